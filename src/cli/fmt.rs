//! How the CLI shows things to people: aligned tables that fit the terminal,
//! relative times, excerpts on one line. `--json` output never goes through here.

use comfy_table::{presets, ContentArrangement, Table};

/// A table with `header`, without borders, wrapped to the terminal's width when there is one.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING).set_content_arrangement(ContentArrangement::Dynamic).set_header(header.to_vec());
    t
}

pub use crate::behaviors::engine::say::{ago, excerpt};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_and_excerpts_read_like_speech() {
        assert_eq!(ago(1_000, 2_000), "just now");
        assert_eq!(ago(0, 42_000), "42 s ago");
        assert_eq!(ago(0, 3 * 60_000 + 5_000), "3 min ago");
        assert_eq!(ago(0, 5 * 3_600_000), "5 h ago");
        assert_eq!(ago(0, 2 * 86_400_000), "2 days ago");
        assert_eq!(ago(10 * 60_000, 0), "in 10 min");
        assert_eq!(excerpt("a\n b  c", 10), "a b c");
        assert_eq!(excerpt("abcdefghij", 5), "abcd…");
    }
}
