//! The few types every andibase crate speaks: ids, timestamps, the clock and the
//! domain error. Kept deliberately tiny; anything with behaviour lives in a noun crate.

pub mod error;
pub mod hex;
pub mod id;
pub mod links;
pub mod percent;
pub mod rate;
pub mod role;
pub mod serde_util;
pub mod temp;
pub mod time;

pub use error::{DomainError, DomainResult, FieldIssue, Refusal};
pub use links::Links;
pub use role::Role;
pub use time::{Clock, Timestamp};
