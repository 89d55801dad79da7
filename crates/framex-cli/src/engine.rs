//! `framex-engine`: the `framex` command with FFmpeg. `framex` (which does not link FFmpeg)
//! hands it every command that must probe, decode or download, by `exec`, with the same
//! arguments; run directly, it behaves exactly as `framex`.

#[allow(dead_code)] // the `framex` executable's own parts (its `main`, the hand-over)
#[path = "main.rs"]
mod cli;

use std::path::Path;
use std::process::ExitCode;

use framex::{CancelToken, Composition, ExtractOptions, ExtractionResult};

/// The library, FFmpeg included.
struct Engine;

impl cli::Backend for Engine {
    fn quiet_ffmpeg_log() {
        framex::quiet_ffmpeg_log();
    }

    fn probe(file: &Path) -> Result<framex::MediaInfo, framex::MediaError> {
        framex::probe(file)
    }

    fn extract(comp: &Composition, opts: &ExtractOptions) -> ExtractionResult {
        framex::extract(comp, opts)
    }

    /// A cancel token raised by the first SIGINT, SIGTERM, SIGHUP or SIGQUIT: the run then stops
    /// promptly, publishes nothing partial, reports `cancelled` clips and prints its result as
    /// after Ctrl-C. A second signal exits at once (status 130). Installed before the
    /// composition is read, so an early signal cancels too instead of killing the process with
    /// staging folders left; signals `framex` held before handing over arrive once it is in place.
    fn stop_on_signals() -> CancelToken {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        let cancel = CancelToken::new();
        match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT]) {
            Ok(mut signals) => {
                let cancel = cancel.clone();
                std::thread::spawn(move || {
                    let mut received = signals.forever();
                    if received.next().is_some() {
                        cancel.cancel();
                    }
                    if received.next().is_some() {
                        std::process::exit(130);
                    }
                });
            }
            Err(e) => eprintln!("framex: warning: cannot handle signals ({e}); Ctrl-C will not stop cleanly"),
        }
        cli::held_signals::mask(libc::SIG_UNBLOCK);
        cancel
    }
}

fn main() -> ExitCode {
    cli::run::<Engine>()
}
