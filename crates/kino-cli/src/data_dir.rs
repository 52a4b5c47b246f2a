//! Where kino keeps its state: keys, the server's database and stored videos.
//!
//! `$KINO_DATA_DIR` if set, else `$XDG_DATA_HOME/kino`, else `$HOME/.local/share/kino`,
//! else `./.kino` (a machine with no home directory).

use std::path::PathBuf;

pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KINO_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("kino");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".local/share/kino");
    }
    PathBuf::from(".kino")
}
