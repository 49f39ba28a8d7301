//! `mqctl enqueue`: add a message the writer's way (tests, re-injection,
//! demos). Invalid addresses are refused before anything is written.

use std::io::{Read, Write};

use super::{Context, flush, stdout};
use crate::cli::EnqueueArgs;
use crate::error::{Error, Result};
use crate::exit::ExitCode;
use crate::output::escape;
use crate::queue::address;
use crate::queue::write::EnqueueOptions;

/// The largest message `enqueue` accepts (the writer has its own limits; this
/// only keeps a mistaken `enqueue /dev/zero` from filling the disk).
const MAX_MESSAGE: u64 = 256 * 1024 * 1024;

pub fn run(ctx: &Context, args: &EnqueueArgs) -> Result<ExitCode> {
    let from = address::parse_sender(&args.from).map_err(|e| Error::Usage(format!("--from: {e}")))?;
    let to = args
        .to
        .iter()
        .map(|t| address::parse(t).map_err(|e| Error::Usage(format!("--to: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    let at = args.at.map_or(ctx.now, |w| w.at(ctx.now));
    let contents = read_message(args)?;
    let queue = ctx.open_queue()?;
    let done = queue.enqueue(
        from.as_ref(),
        &to,
        &contents,
        EnqueueOptions {
            at,
            last_attempt: None,
            written: None,
            durable: true,
        },
    )?;
    let mut out = stdout();
    if !ctx.quiet {
        writeln!(
            out,
            "queued mail {} for {} recipient(s):",
            done.mail,
            done.entries.len()
        )?;
    }
    for e in &done.entries {
        if ctx.quiet {
            writeln!(out, "{}", e.id)?;
        } else {
            writeln!(out, "  {}  {}", e.id, escape(&e.to.to_string()))?;
        }
    }
    flush(&mut out)?;
    Ok(ExitCode::Success)
}

fn read_message(args: &EnqueueArgs) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let what = match &args.file {
        Some(p) if p.as_os_str() != "-" => {
            let f = std::fs::File::open(p).map_err(|e| Error::Usage(format!("{}: {e}", p.display())))?;
            f.take(MAX_MESSAGE + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Error::Usage(format!("{}: {e}", p.display())))?;
            p.display().to_string()
        }
        _ => {
            std::io::stdin()
                .lock()
                .take(MAX_MESSAGE + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Error::Usage(format!("reading the message from stdin: {e}")))?;
            "stdin".to_string()
        }
    };
    if buf.len() as u64 > MAX_MESSAGE {
        return Err(Error::Usage(format!(
            "{what}: the message is larger than {MAX_MESSAGE} bytes"
        )));
    }
    if buf.is_empty() {
        return Err(Error::Usage(format!("{what}: the message is empty")));
    }
    Ok(buf)
}
