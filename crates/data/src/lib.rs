//! Workspace data (issue: data): data definitions are real tables with typed columns in
//! the workspace's database; records are rows; queries use the filter language.

mod definition;
mod definitions;
pub mod hooks;
mod query;
mod records;
mod tables;
mod upsert;
mod usage;
mod value;

pub use definition::{
    flat_name, follow_other_replicas, CreateDefinition, DataDefinition, DefinitionCache,
    FieldInput, FieldName, FieldSpec, FieldType, IndexSpec, LocalDefinitionCache, SelectOption,
    SystemField, UpdateDefinition, ATTRIBUTE_PREFIX,
};
pub use definitions::{DataSettings, DataSettingsPatch};
pub use hooks::{Caller, HookContext, Pipeline, RecordHook, WriteKind};
pub use query::{Count, Page, QueryParams};
pub use records::{Data, DeleteMany, PatchMany, RecordInput, SelectAll, SqlQuery, SqlResult};
pub use tables::{index_record_tables, record_tables, remake_record_tables};
pub use upsert::{UpsertAction, UpsertMany, UpsertMode, UpsertOutcome, UpsertResult};
pub use usage::{AutoIndex, QueryLog, ShapeStatus, SlowShape, UsageSettings};

/// A value as shown for `field` (strings read as numbers, booleans, … where needed),
/// checked and converted to what the field stores, then shown again.
pub fn typed_value(
    field: &FieldSpec,
    shown: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    value::convert(shown, field).map(|v| value::to_json(field, &v))
}
