//! The BigQuery project and access token of the Data Observatory, as cartoframes'
//! `get_gcloud_credentials()` returns them.

mod common;

use carto::blocking::Client;

fn main() -> common::Result {
    let account = common::account()?;
    let client = Client::new(account.credentials.clone())?;
    let token = client.do_token()?;
    println!("Data Observatory dataset: {:?}", token.bq_dataset);
    let gcloud = client.gcloud_credentials()?;
    println!("BigQuery project: {}", gcloud.project);
    println!(
        "access token: {} characters (pass it to your BigQuery client; never print it)",
        gcloud.access_token.expose_secret().len()
    );
    Ok(())
}
