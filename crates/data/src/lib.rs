//! Workspace data (issue: data): data definitions are real tables with typed columns in
//! the workspace's database; records are rows; queries use the filter language.

mod definition;
mod query;
mod records;
mod value;

pub use definition::{
    CreateDefinition, DataDefinition, FieldSpec, FieldType, SelectOption, UpdateDefinition,
};
pub use query::{Page, QueryParams};
pub use records::{
    Data, DeleteMany, PatchMany, RecordInput, SelectAll, SqlQuery, SqlResult, UpsertMany,
    UpsertOutcome,
};
