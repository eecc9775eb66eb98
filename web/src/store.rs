//! What the app keeps on the device between reloads, and how.
//!
//! - The draft: [`plp_core::draft`] (AES-256-GCM) under a random key kept in
//!   `sessionStorage`, so it dies with the tab; only the ciphertext is in `localStorage`.
//!   The memorable word is never part of it.
//! - A sealed envelope whose upload failed, in `localStorage`, so nothing is lost if the tab
//!   closes before a retry. It is sealed to the evaluator's key: the device cannot read it.

use crate::browser::{random, storage};
use crate::state::Draft;
use plp_core::draft::{open_draft, seal_draft, DRAFT_KEY_LEN};
use plp_core::envelope::{b64_decode, b64_encode};

/// Storage for one study (keys carry the study id, so two studies never mix).
#[derive(Debug, Clone, PartialEq)]
pub struct Store {
    study_id: String,
}

impl Store {
    /// The store of a study.
    pub fn new(study_id: &str) -> Self {
        Store {
            study_id: study_id.to_string(),
        }
    }

    fn key_name(&self) -> String {
        format!("plp-draft-key/{}", self.study_id)
    }

    fn draft_name(&self) -> String {
        format!("plp-draft/{}", self.study_id)
    }

    fn pending_name(&self) -> String {
        format!("plp-pending/{}", self.study_id)
    }

    /// The tab's draft key; a new random one when `create` and there is none.
    fn key(&self, create: bool) -> Option<[u8; DRAFT_KEY_LEN]> {
        let s = storage(true)?;
        let existing = s
            .get_item(&self.key_name())
            .ok()
            .flatten()
            .and_then(|k| b64_decode("draft key", &k).ok())
            .and_then(|k| <[u8; DRAFT_KEY_LEN]>::try_from(k).ok());
        match existing {
            Some(k) => Some(k),
            None if create => {
                let k = random::<DRAFT_KEY_LEN>();
                s.set_item(&self.key_name(), &b64_encode(&k)).ok()?;
                Some(k)
            }
            None => None,
        }
    }

    /// The saved draft, if there is one this tab can open. One it cannot open (another
    /// tab's, or damaged) is deleted.
    pub fn load(&self) -> Option<Draft> {
        let local = storage(false)?;
        let sealed = local.get_item(&self.draft_name()).ok().flatten()?;
        let draft = self.key(false).and_then(|key| {
            let bytes = b64_decode("draft", &sealed).ok()?;
            let plain = open_draft(&key, &self.study_id, &bytes).ok()?;
            serde_json::from_slice::<Draft>(&plain).ok()
        });
        if draft.is_none() {
            let _ = local.remove_item(&self.draft_name());
        }
        draft
    }

    /// Saves the draft, encrypted under a fresh nonce.
    pub fn save(&self, draft: &Draft) {
        let (Some(local), Some(key)) = (storage(false), self.key(true)) else {
            return;
        };
        let plain = serde_json::to_vec(draft).expect("a draft always serialises");
        let sealed = seal_draft(&key, random(), &self.study_id, &plain);
        let _ = local.set_item(&self.draft_name(), &b64_encode(&sealed));
    }

    /// Deletes the draft and its key.
    pub fn wipe(&self) {
        if let Some(local) = storage(false) {
            let _ = local.remove_item(&self.draft_name());
        }
        if let Some(session) = storage(true) {
            let _ = session.remove_item(&self.key_name());
        }
    }

    /// Keeps a sealed envelope that could not be sent yet (`withdrawal`: a withdrawal
    /// request rather than a response).
    pub fn keep_pending(&self, withdrawal: bool, envelope_json: &str) {
        if let Some(local) = storage(false) {
            let kind = if withdrawal { "withdrawal" } else { "response" };
            let _ = local.set_item(&self.pending_name(), &format!("{kind}\n{envelope_json}"));
        }
    }

    /// A sealed envelope kept from an earlier failed upload, and whether it is a
    /// withdrawal request.
    pub fn pending(&self) -> Option<(bool, String)> {
        let v = storage(false)?
            .get_item(&self.pending_name())
            .ok()
            .flatten()?;
        let (kind, json) = v.split_once('\n')?;
        Some((kind == "withdrawal", json.to_string()))
    }

    /// Forgets the kept envelope (it was sent, or saved as a file).
    pub fn drop_pending(&self) {
        if let Some(local) = storage(false) {
            let _ = local.remove_item(&self.pending_name());
        }
    }
}
