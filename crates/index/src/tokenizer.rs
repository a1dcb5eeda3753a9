//! The tantivy tokenizer of captions: the one normalisation ([`pairscope_text::Normalizer`]),
//! then [`crate::units::index_units`].

use pairscope_text::Normalizer;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

use crate::units::index_units;

/// Tokenises captions into index units. Keeps its buffers between calls, so indexing millions
/// of captions allocates only while the buffers grow.
#[derive(Clone)]
pub struct CaptionTokenizer {
    normalizer: Normalizer,
    tokens: Vec<Token>,
}

impl CaptionTokenizer {
    /// A tokenizer of [`crate::schema::FOLDED_TOKENIZER`]'s kind when `fold_accents`, of
    /// [`crate::schema::CAPTION_TOKENIZER`]'s otherwise.
    pub fn new(fold_accents: bool) -> Self {
        CaptionTokenizer { normalizer: Normalizer::new(fold_accents), tokens: Vec::new() }
    }
}

/// The units of one caption as tantivy tokens: term text and position, without offsets
/// (always 0).
pub struct CaptionTokenStream<'a> {
    tokens: &'a mut [Token],
    next: usize,
}

impl Tokenizer for CaptionTokenizer {
    type TokenStream<'a> = CaptionTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CaptionTokenStream<'a> {
        let CaptionTokenizer { normalizer, tokens } = self;
        let canonical = normalizer.normalize(text);
        let mut used = 0;
        index_units(canonical, |unit| {
            if used == tokens.len() {
                tokens.push(Token::default());
            }
            let token = &mut tokens[used];
            unit.term.write_term(&mut token.text);
            token.position = unit.position as usize;
            token.position_length = 1;
            // Offsets would only serve highlighting, which works on the raw caption instead.
            token.offset_from = 0;
            token.offset_to = 0;
            used += 1;
        });
        CaptionTokenStream { tokens: &mut tokens[..used], next: 0 }
    }
}

impl TokenStream for CaptionTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(tokenizer: &mut CaptionTokenizer, text: &str) -> Vec<(usize, String)> {
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            out.push((token.position, token.text.clone()));
        }
        out
    }

    #[test]
    fn normalises_then_splits_into_units() {
        let mut tokenizer = CaptionTokenizer::new(false);
        assert_eq!(
            terms(&mut tokenizer, "Dr. Seuss™ book"),
            vec![(0, "dr".into()), (1, "seuss".into()), (2, "book".into())]
        );
        // Buffers are reused: a shorter text after a longer one yields only its own tokens.
        assert_eq!(terms(&mut tokenizer, "Ｔｈｏｍａｓ"), vec![(0, "thomas".into())]);
        assert_eq!(terms(&mut tokenizer, "— …"), vec![]);
    }

    #[test]
    fn folding_is_the_normalisers() {
        let mut folded = CaptionTokenizer::new(true);
        assert_eq!(terms(&mut folded, "Albrecht Dürer"), vec![(0, "albrecht".into()), (1, "durer".into())]);
        let mut plain = CaptionTokenizer::new(false);
        assert_eq!(terms(&mut plain, "Albrecht Dürer"), vec![(0, "albrecht".into()), (1, "dürer".into())]);
    }
}
