//! Paths as the kernel resolves them, computed once where a path is taken.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// `path` made absolute as the kernel resolves it: symlinks followed and `..` applied to what
/// they lead to. The part that does not exist yet is appended as written (it holds no symlink;
/// its `.` and `..` are applied lexically).
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    use std::path::Component;
    let absolute = std::path::absolute(path)?;
    let components: Vec<Component> = absolute.components().collect();
    // The longest prefix that exists, resolved by the kernel.
    let mut exists = components.len();
    let mut resolved = loop {
        match fs::canonicalize(components[..exists].iter().collect::<PathBuf>()) {
            Ok(resolved) => break resolved,
            Err(e) if e.kind() == io::ErrorKind::NotFound && exists > 1 => exists -= 1,
            Err(e) => return Err(e),
        }
    };
    for component in &components[exists..] {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => resolved.push(name),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_follows_symlinks_before_dotdot_as_the_kernel_does() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::create_dir_all(root.join("ds")).unwrap();
        // `link/..` is the parent of where the link leads (a), not the directory holding link.
        std::os::unix::fs::symlink(root.join("a/b"), root.join("link")).unwrap();
        assert_eq!(resolve(&root.join("link/../x")).unwrap(), root.join("a/x"));
        assert_eq!(resolve(&root.join("a/../ds/CURRENT")).unwrap(), root.join("ds/CURRENT"));
        assert_eq!(resolve(&root.join("new/deeper/../file")).unwrap(), root.join("new/file"));
    }
}
