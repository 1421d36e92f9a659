//! Names as topics, services and queues take them: 1 to [`MAX_TOPIC_NAME_BYTES`] bytes of
//! ASCII letters, digits, `-`, `_` and `.`, each kind its own type.

use crate::limits::MAX_TOPIC_NAME_BYTES;

/// Whether `s` is a valid name.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_TOPIC_NAME_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Defines a name type `$name` (a string on the wire, checked whenever it is parsed or
/// decoded) and `$error`, why a string is not one, saying it is not a `$kind` name.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $error:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        #[doc = concat!("Why a string is not a ", $kind, " name.")]
        #[derive(Debug, PartialEq, Eq)]
        pub struct $error(pub String);

        impl std::fmt::Display for $error {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    "`{}` is not a {} name (1-64 characters of letters, digits, '-', '_' and '.')",
                    self.0, $kind
                )
            }
        }

        impl std::error::Error for $error {}

        impl $name {
            /// The name as the user wrote it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = $error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if crate::name::is_name(s) {
                    Ok($name(s.to_string()))
                } else {
                    Err($error(s.to_string()))
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $error;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
