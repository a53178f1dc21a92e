//! `mysql-lb parse URL`: what a connection string means.

use mysql_lb::LbOpts;

use crate::Outcome;

/// Arguments of `parse`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The connection string, e.g. mysql://app:secret@db1:3306,db2:3306/shop
    url: String,
}

pub(crate) fn run(args: Args) -> Outcome {
    match args.url.parse::<LbOpts>() {
        Ok(opts) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&opts.to_json()).unwrap_or_default()
            );
            Outcome::Ok
        }
        Err(e) => Outcome::BadInput(format!("bad connection string: {e}")),
    }
}
