//! Making a user's table public or private again.

use super::Store;
use super::records::UserRecord;
use crate::error::EmulatorError;
use crate::ident::{qualified, quote_ident};

impl Store {
    /// Makes a table of the user public (`GRANT SELECT` to the public role) or private
    /// again (`REVOKE`).
    pub(crate) async fn set_table_public(
        &self,
        user: &UserRecord,
        table: &str,
        public: bool,
    ) -> Result<(), EmulatorError> {
        let db = self.client(&user.database).await?;
        let (verb, prep) = if public {
            ("GRANT", "TO")
        } else {
            ("REVOKE", "FROM")
        };
        db.batch_execute(&format!(
            "{verb} SELECT ON TABLE {} {prep} {}",
            qualified(&user.schema, table),
            quote_ident(&user.public_role)
        ))
        .await?;
        Ok(())
    }
}
