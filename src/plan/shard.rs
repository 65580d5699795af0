//! Splitting a run across GitHub Actions matrix jobs: `--shard I/N` keeps every N-th image of
//! the run starting at the I-th (round robin over the images in list order, so sizes spread
//! evenly), and `plan --shards N` prints the matrix that runs them all.

use std::fmt;
use std::str::FromStr;

/// One share of a run: `index` of `count`, 1-based as written (`2/4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}` is not a shard; write `I/N` with 1 <= I <= N, e.g. `2/4`");
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether the `k`-th image of the run (0-based) is this shard's.
    pub fn owns(&self, k: usize) -> bool {
        k % self.count == self.index - 1
    }

    /// The items of `items` this shard owns, counting from `first` (the run-wide position of
    /// `items[0]`).
    pub fn take<T>(&self, items: Vec<T>, first: usize) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(k, _)| self.owns(first + k))
            .map(|(_, t)| t)
            .collect()
    }
}

/// `{"include": [{"shard": "1/N", "images": k}, ...]}` for `images` items (unknown: `None`,
/// every shard listed); shards that would get nothing are left out.
pub fn matrix(shards: usize, images: Option<usize>) -> serde_json::Value {
    let n = shards.max(1);
    let include: Vec<serde_json::Value> = (1..=n)
        .filter_map(|i| {
            let s = Shard { index: i, count: n };
            match images {
                Some(total) => {
                    let k = (0..total).filter(|k| s.owns(*k)).count();
                    (k > 0).then(|| serde_json::json!({"shard": s.to_string(), "images": k}))
                }
                None => Some(serde_json::json!({"shard": s.to_string()})),
            }
        })
        .collect();
    serde_json::json!({ "include": include })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_own() {
        let s: Shard = "2/3".parse().expect("shard");
        assert_eq!(s, Shard { index: 2, count: 3 });
        assert_eq!((0..7).filter(|k| s.owns(*k)).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(s.take(vec!['a', 'b', 'c'], 3), ['b']);
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn matrices_skip_empty_shards() {
        assert_eq!(
            matrix(4, Some(2)),
            serde_json::json!({"include": [{"shard": "1/4", "images": 1}, {"shard": "2/4", "images": 1}]})
        );
        assert_eq!(
            matrix(2, None),
            serde_json::json!({"include": [{"shard": "1/2"}, {"shard": "2/2"}]})
        );
    }
}
