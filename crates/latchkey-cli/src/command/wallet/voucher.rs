//! For sellers (and tests): signing keys and signed vouchers. Needs no sign-in.

use crate::output::Output;
use latchkey_core::latchkey_wallet::{voucher, Credits, PrivateKey, Timestamp, VoucherSpec};
use latchkey_core::{Code, Error};
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum Voucher {
    /// Make a signing key pair. The public key goes in `[wallet] voucher_keys`.
    Keygen {
        /// Write the private key to this file (readable by you only) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Sign a voucher.
    Issue {
        /// The private key file (from `voucher keygen --out`).
        #[arg(long = "key", value_name = "PRIVATE_KEY_FILE")]
        key: PathBuf,
        /// Credits it grants.
        #[arg(long, value_name = "N")]
        credits: i64,
        /// Only this subject may redeem it.
        #[arg(long = "for", value_name = "SUBJECT")]
        for_subject: Option<String>,
        /// ...at this issuer (optional with --for).
        #[arg(long = "for-issuer", value_name = "ISSUER")]
        for_issuer: Option<String>,
        /// When it expires (RFC 3339).
        #[arg(long, value_name = "TIME")]
        expires: Option<String>,
    },
}

fn bad(message: String) -> Error {
    Error::new(Code::InvalidInput, message)
}

impl Voucher {
    pub fn run(&self, out: &Output) -> Result<(), Error> {
        match self {
            Voucher::Keygen { out: file } => {
                let (private, public) = voucher::keygen()?;
                match file {
                    Some(path) => {
                        write_private(path, &private.to_text())?;
                        out.step(|| format!("private key written to {}", path.display()));
                        println!("{}", public.to_text());
                    }
                    None => {
                        println!("private: {}", private.to_text());
                        println!("public:  {}", public.to_text());
                    }
                }
                Ok(())
            }
            Voucher::Issue {
                key,
                credits,
                for_subject,
                for_issuer,
                expires,
            } => {
                let text = std::fs::read_to_string(key)
                    .map_err(|e| bad(format!("{}: {e}", key.display())))?;
                let private: PrivateKey = text
                    .trim()
                    .parse()
                    .map_err(|e| bad(format!("{}: {e}", key.display())))?;
                let expires_at = expires
                    .as_deref()
                    .map(|t| {
                        Timestamp::parse_rfc3339(t)
                            .ok_or_else(|| bad(format!("--expires {t}: expected an RFC 3339 time")))
                    })
                    .transpose()?;
                let spec = VoucherSpec {
                    credits: Credits(*credits),
                    issuer: for_issuer.clone(),
                    subject: for_subject.clone(),
                    expires_at,
                    id: None,
                };
                println!("{}", voucher::issue(&private, &spec)?);
                Ok(())
            }
        }
    }
}

/// A new private key file, owner only; an existing file is never replaced.
fn write_private(path: &std::path::Path, text: &str) -> Result<(), Error> {
    let bytes = format!("{text}\n");
    latchkey_core::write_private(path, bytes.as_bytes(), latchkey_core::Existing::Keep)
        .map_err(|e| bad(format!("{}: {e}", path.display())))
}
