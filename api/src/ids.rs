//! Typed identifiers, parsed once at the edge: a referral's id, an authority's GSS code, an API
//! key's id, an officer's id. Each is a string on the wire and in the database; in the code a
//! function that takes a `ReferralId` cannot be handed a GSS code by mistake.

use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl From<$name> for sea_orm::Value {
            fn from(id: $name) -> sea_orm::Value {
                sea_orm::Value::from(id.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

id!(
    /// A referral's id: a UUID (v7 for new referrals), lower-case and hyphenated.
    ReferralId
);
id!(
    /// A current English housing authority's GSS code (`E08000039`).
    GssCode
);
id!(
    /// An API key's id: a UUID.
    KeyId
);
id!(
    /// An officer's id: a UUID.
    OfficerId
);
id!(
    /// A practitioner's id (`prt_…`).
    PractitionerId
);

impl ReferralId {
    /// Parses a referral id from a path or a form: a UUID in any of its usual spellings, kept in
    /// the lower-case hyphenated form ids are stored in. `None` for anything else, which no
    /// referral can have (the caller answers 404, as for an unknown id).
    pub fn parse(raw: &str) -> Option<ReferralId> {
        uuid::Uuid::try_parse(raw.trim())
            .ok()
            .map(|u| ReferralId(u.hyphenated().to_string()))
    }

    /// A new id: a time-ordered UUID (v7, RFC 9562), whose 74 random bits keep it unguessable
    /// while new rows land at the end of the id indexes.
    pub fn new_v7() -> ReferralId {
        ReferralId(uuid::Uuid::now_v7().to_string())
    }

    /// An id read back from the database (trusted: it was parsed when stored).
    pub fn stored(raw: impl Into<String>) -> ReferralId {
        ReferralId(raw.into())
    }
}

impl GssCode {
    /// The code of an authority in the register (the register decides what is current).
    pub fn of(authority: &domain::HousingAuthority) -> GssCode {
        GssCode(authority.gss_code.clone())
    }

    /// A code read back from the database or a key's scope (trusted: parsed when stored).
    pub fn stored(raw: impl Into<String>) -> GssCode {
        GssCode(raw.into())
    }
}

impl KeyId {
    /// A key id from a path or the command line: a UUID, or `None` (no key has another id).
    pub fn parse(raw: &str) -> Option<KeyId> {
        uuid::Uuid::try_parse(raw.trim())
            .ok()
            .map(|u| KeyId(u.hyphenated().to_string()))
    }

    /// A key id read back from the database (trusted).
    pub fn stored(raw: impl Into<String>) -> KeyId {
        KeyId(raw.into())
    }
}

impl PractitionerId {
    /// A practitioner id read back from the database (trusted).
    pub fn stored(raw: impl Into<String>) -> PractitionerId {
        PractitionerId(raw.into())
    }
}

impl OfficerId {
    /// An officer id from a path: a UUID, or `None`.
    pub fn parse(raw: &str) -> Option<OfficerId> {
        uuid::Uuid::try_parse(raw.trim())
            .ok()
            .map(|u| OfficerId(u.hyphenated().to_string()))
    }

    /// An officer id read back from the database (trusted).
    pub fn stored(raw: impl Into<String>) -> OfficerId {
        OfficerId(raw.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_referral_id_is_a_uuid_in_one_spelling() {
        let id = ReferralId::parse("01A2404E-60D6-764B-B5DA-F5DFCC743067").expect("a UUID");
        assert_eq!(id.as_str(), "01a2404e-60d6-764b-b5da-f5dfcc743067");
        assert!(ReferralId::parse("not-a-uuid").is_none());
        assert!(ReferralId::parse("").is_none());
        assert_ne!(ReferralId::new_v7(), ReferralId::new_v7());
    }
}
