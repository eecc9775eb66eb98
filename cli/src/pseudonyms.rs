//! Pseudonymous ids (`D01`.. for pairs, `R01`.. for respondents), drawn at random once and
//! kept in the store, so re-exports give everyone the same id. Drawn at random so the
//! numbering says nothing about arrival order.

use anyhow::Result;
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::BTreeSet;

/// The pseudonym of `key` of this kind (`pair` or `person`), drawing one if it has none.
pub fn get_or_assign(tx: &Transaction<'_>, kind: &str, key: &str, total: usize) -> Result<String> {
    if let Some(p) = tx
        .query_row(
            "SELECT pseudonym FROM pseudonyms WHERE kind = ?1 AND key = ?2",
            params![kind, key],
            |r| r.get::<_, String>(0),
        )
        .optional()?
    {
        return Ok(p);
    }
    let taken: BTreeSet<String> = {
        let mut stmt = tx.prepare("SELECT pseudonym FROM pseudonyms WHERE kind = ?1")?;
        let rows = stmt.query_map([kind], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let candidate = draw(
        kind,
        |c| taken.contains(c),
        taken.len(),
        total,
        &mut Random::default(),
    );
    tx.execute(
        "INSERT INTO pseudonyms(kind, key, pseudonym) VALUES (?1, ?2, ?3)",
        params![kind, key, candidate],
    )?;
    Ok(candidate)
}

/// A new pseudonym of this kind that `taken` does not hold (`n_taken` are taken): `D` or
/// `R`, then a random number with room for at least twice as many ids as needed, so draws
/// stay quick and random.
pub fn draw(
    kind: &str,
    taken: impl Fn(&str) -> bool,
    n_taken: usize,
    total: usize,
    random: &mut Random,
) -> String {
    let prefix = if kind == "pair" { "D" } else { "R" };
    let needed = total.max(n_taken + 1) * 2;
    let mut width = 2;
    while 10usize.pow(width) - 1 < needed {
        width += 1;
    }
    let space = 10u64.pow(width) - 1;
    loop {
        let r = random.next();
        let candidate = format!("{prefix}{:0w$}", 1 + r % space, w = width as usize);
        if !taken(&candidate) {
            return candidate;
        }
    }
}

/// Operating-system randomness read 4 KiB at a time: an export that draws a million
/// pseudonyms makes 2,000 system calls instead of a million.
pub struct Random {
    buf: [u8; 4096],
    at: usize,
}

impl Default for Random {
    fn default() -> Self {
        Random {
            buf: [0; 4096],
            at: 4096,
        }
    }
}

impl Random {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        if self.at + 8 > self.buf.len() {
            self.buf = crate::study::random();
            self.at = 0;
        }
        let v = u64::from_le_bytes(self.buf[self.at..self.at + 8].try_into().expect("8 bytes"));
        self.at += 8;
        v
    }
}
