//! Pseudonymous ids (`D01`.. for pairs, `R01`.. for respondents), drawn at random once and
//! kept in the store, so re-exports give everyone the same id. Drawn at random so the
//! numbering says nothing about arrival order.

use crate::store::pseudonyms_unique;
use anyhow::Result;
use rusqlite::{params, Connection, Transaction};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// Pseudonyms drawn at once from which [`Pseudonyms::save`] builds the unique index anew
/// rather than inserting into it.
const REBUILD_FROM: usize = 10_000;

/// Whether [`Pseudonyms::save`] builds the unique index anew: it exists (older stores may
/// keep uniqueness inside the table), at least [`REBUILD_FROM`] are drawn, and no fewer
/// than are stored already (building it sorts them all).
fn rebuilds(index_exists: bool, drawn: usize, stored: usize) -> bool {
    index_exists && drawn >= REBUILD_FROM && drawn >= stored
}

/// The pseudonym table, read once: lookups in memory, new draws kept and inserted together
/// by [`Pseudonyms::save`], in key order (an export that draws a million ids then writes
/// the table's key index front to back instead of at a million random places).
pub struct Pseudonyms {
    /// `[person, pair]`, each drawn apart from the other ([`Pseudonyms::kinds`]).
    kinds: [Kind; 2],
}

/// One kind of pseudonym: its ids, and what drawing new ones needs.
#[derive(Default)]
pub struct Kind {
    /// `D` for pairs, `R` for respondents.
    prefix: &'static str,
    /// Key -> (pseudonym, drawn since [`Pseudonyms::load`]).
    known: HashMap<String, (String, bool)>,
    /// Every pseudonym in use, as [`taken_key`]s (a million strings less to hold).
    taken: HashSet<u64>,
    /// Its own, so that each kind can be drawn on a thread of its own.
    random: Random,
    /// How many ids the numbers drawn have room for, set at the first draw (see
    /// [`Kind::get_or_assign`]).
    room: Option<usize>,
}

impl Pseudonyms {
    /// Reads the stored pseudonyms.
    pub fn load(conn: &Connection) -> Result<Pseudonyms> {
        let kind = |prefix| Kind {
            prefix,
            ..Kind::default()
        };
        let mut p = Pseudonyms {
            kinds: [kind("R"), kind("D")],
        };
        let mut stmt = conn.prepare("SELECT kind, key, pseudonym FROM pseudonyms")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let k = &mut p.kinds[usize::from(r.get_ref(0)?.as_str()? == "pair")];
            let pseudonym: String = r.get(2)?;
            k.taken.insert(taken_key(&pseudonym));
            k.known.insert(r.get(1)?, (pseudonym, false));
        }
        Ok(p)
    }

    /// The pseudonym of `key` (a pair's code when `pair`, else a response id), drawing one
    /// if it has none (see [`Kind::get_or_assign`]).
    pub fn get_or_assign(&mut self, pair: bool, key: &str, total: usize) -> String {
        self.kinds[usize::from(pair)].get_or_assign(key.to_owned(), total)
    }

    /// The two kinds (`[person, pair]`) apart: at a million respondents their pseudonyms
    /// are drawn on one thread while the codes are linked and the pairs' drawn on another
    /// (see `dataset::roster_with`).
    pub fn kinds(&mut self) -> &mut [Kind; 2] {
        &mut self.kinds
    }

    /// Stores the pseudonyms drawn since [`Pseudonyms::load`], in the caller's transaction.
    ///
    /// Inserted in key order, so the table (keyed by kind and key) is written front to
    /// back. Its unique index by pseudonym would take them at random places: when at least
    /// [`REBUILD_FROM`] are drawn and no fewer than were stored before (an export's first),
    /// the index is dropped and built again after the inserts, from one sort, in the same
    /// transaction (a duplicate fails it, and everything rolls back).
    pub fn save(self, tx: &Transaction<'_>) -> Result<()> {
        let stored: usize = self
            .kinds
            .iter()
            .map(|k| k.known.values().filter(|(_, new)| !*new).count())
            .sum();
        // Sized once: growing it by doubling would hold up to half as much again, beside
        // the maps it is moved out of, at the export's fullest moment.
        let mut drawn: Vec<(&str, String, String)> =
            Vec::with_capacity(self.kinds.iter().map(|k| k.known.len()).sum::<usize>() - stored);
        for (kind, k) in ["person", "pair"].into_iter().zip(self.kinds) {
            drawn.extend(
                k.known
                    .into_iter()
                    .filter(|(_, (_, new))| *new)
                    .map(|(key, (p, _))| (kind, key, p)),
            );
        }
        drawn.sort_unstable();
        let index: i64 = tx.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'pseudonyms_unique'",
            [],
            |r| r.get(0),
        )?;
        let rebuild = rebuilds(index > 0, drawn.len(), stored);
        if rebuild {
            tx.execute_batch("DROP INDEX pseudonyms_unique")?;
        }
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO pseudonyms(kind, key, pseudonym) VALUES (?1, ?2, ?3)",
            )?;
            for (kind, key, pseudonym) in &drawn {
                stmt.execute(params![kind, key, pseudonym])?;
            }
        }
        if rebuild {
            tx.execute_batch(pseudonyms_unique())?;
        }
        Ok(())
    }
}

impl Kind {
    /// The pseudonym of `key`, drawing one if it has none (see [`draw`]); `total` is how
    /// many of this kind the caller expects.
    ///
    /// The numbers' width is set at the first draw, with room for twice the ids taken then
    /// and `total` more, so every id drawn together has the same width whatever order they
    /// are drawn in (respondents in order of arrival: a width that grew on the way would
    /// tell the last arrivals apart). Only a `total` that proves short widens it later.
    ///
    /// One lookup in each map per new pseudonym (an entry for the key, an insert that
    /// claims the drawn number): at a million respondents these are a million random
    /// places in tables of tens of megabytes, and this was half of the export's
    /// single-threaded start.
    pub fn get_or_assign(&mut self, key: String, total: usize) -> String {
        let (known, taken) = (&mut self.known, &mut self.taken);
        // Room for all `total` at once: grown by doubling, the maps would hash every key
        // again at each step (22% of a profile of the first 7 s of a million's export),
        // and hold the old table beside the new one while they do.
        if taken.capacity() < total {
            taken.reserve(total.saturating_sub(taken.len()));
            known.reserve(total.saturating_sub(known.len()));
        }
        match known.entry(key) {
            Entry::Occupied(e) => e.get().0.clone(),
            Entry::Vacant(e) => {
                let n_taken = taken.len();
                let room = *self.room.get_or_insert((n_taken + total) * 2);
                let candidate = draw(
                    self.prefix,
                    |c| taken.insert(taken_key(c)),
                    room.max((n_taken + 1) * 2),
                    &mut self.random,
                );
                e.insert((candidate.clone(), true));
                candidate
            }
        }
    }
}

/// A pseudonym as a number that equal pseudonyms share: `D`/`R` and up to 17 digits (what
/// [`draw`] makes) as the digits' value and count; anything else (never drawn by plp) as a
/// hash with the top bit set. Different pseudonyms may share a number only through that
/// hash, which at worst makes a draw try again.
fn taken_key(pseudonym: &str) -> u64 {
    let digits = pseudonym.get(1..).unwrap_or("");
    if (1..=17).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = digits.parse::<u64>() {
            return (digits.len() as u64) << 57 | n;
        }
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    pseudonym.hash(&mut h);
    h.finish() | 1 << 63
}

/// A new pseudonym, which `claim` took (it returns false for one already taken, and a new
/// one is drawn): `prefix` (`D` or `R`), then a random number of as many digits as
/// `needed` ids take (at least two), `needed` being twice those there will be, so draws
/// stay quick and random.
fn draw(
    prefix: &str,
    mut claim: impl FnMut(&str) -> bool,
    needed: usize,
    random: &mut Random,
) -> String {
    let mut width = 2;
    while 10usize.pow(width) - 1 < needed {
        width += 1;
    }
    let space = 10u64.pow(width) - 1;
    loop {
        let r = random.next();
        let candidate = padded(prefix, 1 + r % space, width as usize);
        if claim(&candidate) {
            return candidate;
        }
    }
}

/// `prefix` and `n` in decimal, zero-padded to `width` digits (as `format!("{prefix}{n:0width$}")`,
/// without the formatting machinery: one call per pseudonym drawn).
fn padded(prefix: &str, mut n: u64, width: usize) -> String {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    while n > 0 {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let used = (digits.len() - at).max(width.min(digits.len()));
    let mut out = String::with_capacity(prefix.len() + used);
    out.push_str(prefix);
    out.extend(digits[digits.len() - used..].iter().map(|&d| char::from(d)));
    out
}

/// Operating-system randomness read 4 KiB at a time: an export that draws a million
/// pseudonyms makes 2,000 system calls instead of a million.
struct Random {
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
    fn next(&mut self) -> u64 {
        if self.at + 8 > self.buf.len() {
            self.buf = crate::study::random();
            self.at = 0;
        }
        let v = u64::from_le_bytes(self.buf[self.at..self.at + 8].try_into().expect("8 bytes"));
        self.at += 8;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::{padded, rebuilds, taken_key, Pseudonyms, REBUILD_FROM};
    use crate::store::Store;

    fn has_index(store: &Store) -> bool {
        store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'pseudonyms_unique'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .expect("schema")
            == 1
    }

    fn draw(
        store: &mut Store,
        keys: std::ops::Range<usize>,
        total: usize,
    ) -> (rusqlite::Transaction<'_>, Pseudonyms, Vec<String>) {
        let tx = store.tx().expect("tx");
        let mut p = Pseudonyms::load(&tx).expect("load");
        let ids: Vec<String> = keys
            .map(|i| p.get_or_assign(false, &i.to_string(), total))
            .collect();
        (tx, p, ids)
    }

    #[test]
    fn padded_numbers_are_formatted_numbers() {
        for (n, width) in [
            (1, 2),
            (7, 7),
            (1234567, 7),
            (99, 2),
            (123, 2),
            (u64::MAX, 3),
        ] {
            assert_eq!(padded("R", n, width), format!("R{n:0width$}"));
        }
        assert_eq!(padded("D", 42, 5), "D00042");
    }

    /// Ids drawn together have one width whatever was stored before, so the order they
    /// are drawn in (respondents': arrival) cannot show in them. With 20 stored and 4,990
    /// to draw, a width set for the 4,990 alone (room for 9,999) grew by a digit for the
    /// last few.
    #[test]
    fn ids_drawn_together_have_one_width() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut store = Store::create(&dir.path().join("plp.sqlite"), "s", "k").expect("store");
        let tx = store.tx().expect("tx");
        for i in 1..=20 {
            tx.execute(
                "INSERT INTO pseudonyms(kind, key, pseudonym) VALUES ('person', ?1, ?2)",
                [format!("stored {i}"), format!("R{i:04}")],
            )
            .expect("a stored pseudonym");
        }
        let mut p = Pseudonyms::load(&tx).expect("load");
        let widths: std::collections::BTreeSet<usize> = (0..4_990)
            .map(|i| p.get_or_assign(false, &i.to_string(), 4_990).len())
            .collect();
        assert_eq!(widths.len(), 1, "widths {widths:?}");
    }

    /// The index is built anew only for a large draw into a store with the separate index
    /// and no more stored than drawn.
    #[test]
    fn only_large_first_draws_rebuild() {
        assert!(rebuilds(true, REBUILD_FROM, 0));
        assert!(rebuilds(true, 1_000_000, 1_000_000));
        assert!(!rebuilds(true, REBUILD_FROM - 1, 0));
        assert!(!rebuilds(true, 1_000_000, 1_000_001));
        assert!(!rebuilds(false, 1_000_000, 0));
    }

    /// Many pseudonyms drawn at once are stored with the unique index built after them:
    /// the same rows, the index back and enforced. A duplicate makes the save fail and
    /// roll back, index included; a few more drawn later are inserted into the index.
    #[test]
    fn a_large_draw_rebuilds_the_unique_index() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut store = Store::create(&dir.path().join("plp.sqlite"), "s", "k").expect("store");
        let n = REBUILD_FROM + 5;
        let count = |store: &Store| -> i64 {
            store
                .conn
                .query_row("SELECT COUNT(*) FROM pseudonyms", [], |r| r.get(0))
                .expect("count")
        };
        // A row already holding one of the pseudonyms about to be stored, under another
        // key: the draw does not know it (it is written after loading), so only the index
        // can catch it.
        let (tx, p, ids) = draw(&mut store, 0..n, n + 10);
        tx.execute(
            "INSERT INTO pseudonyms(kind, key, pseudonym) VALUES ('person', 'other', ?1)",
            [&ids[7]],
        )
        .expect("a clashing row");
        let e = p.save(&tx).expect_err("a duplicate pseudonym is refused");
        assert!(e.to_string().contains("UNIQUE"), "{e}");
        drop(tx);
        assert!(has_index(&store), "the rollback lost the index");
        assert_eq!(count(&store), 0);

        let (tx, p, ids) = draw(&mut store, 0..n, n + 10);
        p.save(&tx).expect("saved");
        tx.commit().expect("committed");
        assert!(has_index(&store));
        assert_eq!(count(&store), n as i64);
        let again = store.conn.execute(
            "INSERT INTO pseudonyms(kind, key, pseudonym) VALUES ('person', 'other', ?1)",
            [&ids[3]],
        );
        assert!(again.is_err(), "the rebuilt index does not hold");
        // Stored ones come back; a few new ones go into the index as it is.
        let (tx, p, later) = draw(&mut store, n - 2..n + 3, n + 10);
        assert_eq!(later[..2], ids[n - 2..]);
        p.save(&tx).expect("saved");
        tx.commit().expect("committed");
        assert_eq!(count(&store), n as i64 + 3);
        assert!(has_index(&store));
    }

    /// Equal pseudonyms share a number; pseudonyms plp draws never share one with another
    /// (leading zeros count); other strings fall in the hashed half.
    #[test]
    fn taken_keys_tell_drawn_pseudonyms_apart() {
        assert_eq!(taken_key("R0042"), taken_key("R0042"));
        let drawn = [
            "R01",
            "R001",
            "R10",
            "R010",
            "R0042",
            "R42",
            "D99",
            "R99999999999999999",
        ];
        for (i, a) in drawn.iter().enumerate() {
            assert_eq!(taken_key(a) >> 63, 0, "{a}");
            for b in &drawn[i + 1..] {
                let same_number = a[1..] == b[1..];
                assert_eq!(taken_key(a) == taken_key(b), same_number, "{a} {b}");
            }
        }
        for other in ["R", "Rx1", "R999999999999999999", "", "é1"] {
            assert_eq!(taken_key(other) >> 63, 1, "{other}");
        }
    }
}
