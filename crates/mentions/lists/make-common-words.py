"""Regenerates common-words.txt: the 5,000 most frequent English words by wordfreq 3.1.1's
'en' list (Robyn Speer; data CC BY-SA 4.0), kept when they are one alphabetic token of two or
more letters. Mentions marks an entity "ambiguous" when one of its aliases is such a word.

    pip install wordfreq==3.1.1 && python make-common-words.py > common-words.txt
"""
from wordfreq import top_n_list

print("# The 5,000 most frequent English words (wordfreq 3.1.1 'en', CC BY-SA 4.0); see make-common-words.py")
kept = 0
for word in top_n_list("en", 20000):
    if len(word) >= 2 and word.isalpha():
        print(word)
        kept += 1
        if kept == 5000:
            break
