//! The command line, as clap sees it. This is the single source for `--help`,
//! man pages and completions; nothing below `cmd/` sees these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;
use jiff::SignedDuration;

pub use crate::select::args::{SelectArgs, StateArg, StuckArg};
use crate::timespec::{self, When};

#[derive(Debug, Parser)]
#[command(
    name = "mqctl",
    version,
    about = "Inspect and repair a Kannader mail queue",
    long_about = "Inspect and repair a Kannader on-disk mail queue (data/, queue/, inflight/, cleanup/), \
safely against a live writer. Read with list, show and stats; change with hold, release, reschedule, \
defer, drop, recover and purge; try it all with `mqctl demo`.",
    after_help = "Examples:\n  mqctl --queue /var/spool/kannader stats\n  mqctl list --to '*@example.com' --format jsonl | jq .id\n  mqctl demo"
)]
pub struct Cli {
    /// The queue root (the folder holding data/ and queue/).
    #[arg(long, short = 'Q', env = "MQCTL_QUEUE", global = true, value_name = "DIR", value_parser = queue_dir, value_hint = clap::ValueHint::DirPath)]
    pub queue: Option<PathBuf>,

    /// When to use colors (NO_COLOR in the environment means never for auto).
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, global = true, value_name = "WHEN")]
    pub color: ColorArg,

    /// Print only what was asked for: no summaries, no warnings.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Say more about what is done (repeat for more).
    #[arg(long, short, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Accept a queue root that is group/world writable or owned by another
    /// user (normally refused: anyone who can write there can plant entries).
    #[arg(long, global = true)]
    pub insecure: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List entries matching a selection.
    #[command(
        after_help = "Examples:\n  mqctl list\n  mqctl list --state inflight --older-than 1h\n  \
mqctl list --to '*@gmail.com' --not-due --format jsonl\n  mqctl list --from '<>' --format ids | mqctl drop -\n  \
mqctl list --count --domain example.com"
    )]
    List(Box<ListArgs>),

    /// Show entries in full: state, envelope, schedule, headers.
    #[command(
        after_help = "Examples:\n  mqctl show 3f2a\n  mqctl show 3f2a --raw | less\n  mqctl show --json 3f2a 91bc"
    )]
    Show(ShowArgs),

    /// Counts per state, per destination domain and age (like qshape).
    #[command(
        after_help = "Examples:\n  mqctl stats\n  mqctl stats --format json | jq .states\n  \
mqctl stats --format prometheus > /var/lib/node_exporter/mqctl.prom"
    )]
    Stats(StatsArgs),

    /// Add a message to the queue exactly as the writer does.
    #[command(
        after_help = "Examples:\n  mqctl enqueue --from alice@example.org --to bob@example.com message.eml\n  \
printf 'Subject: hi\\r\\n\\r\\nhello\\r\\n' | mqctl enqueue --from '<>' --to postmaster@example.net -"
    )]
    Enqueue(EnqueueArgs),

    /// Write selected entries as one tar archive (the queue's own layout),
    /// for `mqctl import` on another host.
    #[command(
        long_about = "Write the selected entries as one tar archive on stdout (or -o FILE), in the queue's \
own layout: data/<mail>/contents, data/<mail>/<dest>/metadata and schedule, and each entry's link \
<state>/<id> -> ../data/<mail>/<dest> (a held entry's note, hold-notes/<id>, right before its link, so it \
arrives held for the same reason and until the same time), bytes exactly as on disk, then a trailer (mqctl-export.json) so \
that a cut archive is noticed. `tar tvf` lists it. Only queued and held entries are exported; a broken \
entry is reported and left out (exit 1). With --hold the queued entries are held first (through the \
usual change: --yes, --log, --dry-run apply to it) and exported as queued, so the old host cannot \
send them after the export: once `mqctl import` succeeded on the new host, `mqctl drop --state hold` \
with the same selection finishes the move; if it failed, `mqctl release` puts them back. --dry-run \
writes no archive and holds nothing. A tar is never written to a terminal.",
        after_help = "Examples:\n  mqctl export --domain example.com --hold | ssh mx2 mqctl import -\n  \
mqctl drop --state hold --domain example.com      # once the import succeeded\n  \
mqctl export --all -o /var/backups/queue.tar\n  mqctl export --state hold --all | tar tvf -"
    )]
    Export(ExportArgs),

    /// Add the entries of an archive `mqctl export` wrote, the writer's way.
    #[command(
        long_about = "Add the entries of an archive written by `mqctl export` (FILE, or stdin for - or \
nothing) to this queue by the writer's own enqueue protocol: contents, then each recipient's metadata \
and schedule, synced, then its link, last, into queue/ or hold/ as in the archive. Ids, schedules \
(retry history) and the message bytes are kept. An entry this queue has already is counted as \
already there, so importing an archive twice adds nothing the second time; the same id with other \
bytes is a conflict and is never overwritten. A cut or corrupt archive gives what is whole in it \
(each recipient whose files and link all arrived intact) and reports the rest (exit 1); no \
half-written entry is ever linked. One mail at a time is held in memory (at most 256 MiB). \
Confirmation is asked only when FILE is a regular file and stdin a terminal.",
        after_help = "Examples:\n  ssh mx1 mqctl export --domain example.com --hold | mqctl import -\n  \
mqctl import --dry-run queue.tar                 # check the archive, change nothing\n  \
mqctl import --yes --log /var/log/mqctl.jsonl queue.tar"
    )]
    Import(ImportArgs),

    /// Set the next attempt of entries (queued or held), or spread them.
    #[command(after_help = "Examples:\n  mqctl reschedule --domain example.com --at now\n  \
mqctl reschedule 3f2a --at +2h\n  mqctl reschedule --all --at 2026-11-24T06:00:00Z --dry-run\n  \
mqctl reschedule --domain example.com --at now --spread 30m --per-domain-rate 20/min")]
    Reschedule(RescheduleArgs),

    /// Push the next attempt of entries later.
    #[command(after_help = "Examples:\n  mqctl defer --domain broken-dns.example --by 4h\n  \
mqctl defer --to '*@example.com' --until 2026-11-24T08:00:00Z")]
    Defer(DeferArgs),

    /// Move entries to hold/: no writer tries a held entry until released.
    #[command(
        after_help = "Each held entry keeps a note in hold-notes/ (mqctl's own folder): why, since when, \
until when, by whom. `list`, `show`, `stats` and the TUI show it; `release --expired` releases the holds \
whose --until has passed (the shipped cron job and systemd timer run it). With --reason or --until, \
entries held already are selected too and get the new reason or end (what is not given is kept; they stay \
held since they were held; `undo` puts the old note back).\n\nExamples:\n  \
mqctl hold --domain broken-dns.example --reason 'DNS broken, ticket 4711' --until +4h\n  \
mqctl hold --domain broken-dns.example --until +2h      # still broken: two hours more\n  mqctl hold 3f2a 91bc\n  \
mqctl list --from spammer@example.com --format ids | mqctl hold - --reason 'spam run'"
    )]
    Hold(HoldArgs),

    /// Move held entries back to queue/ (or those whose hold has ended).
    #[command(
        after_help = "Examples:\n  mqctl release --domain broken-dns.example\n  mqctl release --all --dry-run\n  \
mqctl release --expired --yes --log /var/log/mqctl.jsonl   # from cron\n  \
mqctl release --domain example.com --spread 30m --per-domain-rate 20/min"
    )]
    Release(ReleaseArgs),

    /// Remove entries the writer's way (to cleanup/, then clean up).
    #[command(after_help = "Examples:\n  mqctl drop --from spammer@example.com --dry-run\n  \
mqctl drop --subject '*lottery*' --yes\n  mqctl list --format ids --header 'X-Spam: yes' | mqctl drop - --yes")]
    Drop(DropArgs),

    /// Move stuck inflight entries (their writer died) back to queue/, and
    /// entries an interrupted mqctl left claimed back where they were.
    #[command(
        after_help = "Examples:\n  mqctl recover                  # inflight for at least an hour\n  \
mqctl recover --stuck-after 3h --yes --log /var/log/mqctl.jsonl\n  \
mqctl recover --domain example.com --dry-run\n  \
mqctl recover --spread 30m --per-domain-rate 20/min  # and retry them paced"
    )]
    Recover(RecoverArgs),

    /// Finish pending cleanups; put back claimed leftovers; remove old temp
    /// files and orphan mails.
    #[command(after_help = "Examples:\n  mqctl purge\n  mqctl purge --min-age 6h --dry-run\n  \
mqctl purge --yes --log /var/log/mqctl.jsonl")]
    Purge(PurgeArgs),

    /// Find everything wrong in the queue; --repair fixes what is safe.
    #[command(
        after_help = "Exit status: 0 no problem, 4 problems found (or left after --repair), \
1 a repair failed, 3 queue unusable.\n\nExamples:\n  mqctl check\n  mqctl check --format json | jq '.problems[].code'\n  \
mqctl check --repair --dry-run\n  mqctl check --repair --yes --log /var/log/mqctl.jsonl"
    )]
    Check(CheckArgs),

    /// Take back what a logged run changed, newest first.
    #[command(
        long_about = "Take back what a run logged with --log changed, newest change first: moves go back \
(hold, release, recover), a rewritten schedule (reschedule, defer) gets its previous bytes back, \
and so does a held entry's note that a hold with --reason or --until changed. \
An entry changed again since by someone else is left alone and reported; what cannot be undone \
(a drop whose cleanup removed the files, purge's removals, check --repair's repairs) is listed with \
its reason. The undo's own changes are appended to the same log (or to --record FILE), so an undo \
can be undone too.",
        after_help = "Exit status: 0 everything taken back, 1 something was not (not undoable, changed \
since, failed), 2 no such run in the log.\n\nExamples:\n  mqctl undo --log /var/log/mqctl.jsonl --dry-run\n  \
mqctl undo --log /var/log/mqctl.jsonl --run 3f2a91bc --yes\n  \
mqctl undo --log /var/log/mqctl.jsonl --since 2026-11-23T03:00:00Z"
    )]
    Undo(UndoArgs),

    /// Print a shell completion script (ids complete from the current queue).
    #[command(after_help = "Examples:\n  source <(mqctl completions bash)\n  \
mqctl completions zsh > ~/.zfunc/_mqctl\n  mqctl completions fish > ~/.config/fish/completions/mqctl.fish")]
    Completions(CompletionsArgs),

    /// Write man pages and completion scripts (for packaging).
    #[command(hide = true)]
    Generate(GenerateArgs),

    /// Stream every change to the queue as it happens: one line per entry moved.
    #[command(after_help = "Examples:\n  mqctl watch\n  mqctl watch --domain example.com\n  \
mqctl watch --format jsonl | jq -c 'select(.event == \"delivered\")'\n\n\
Runs until interrupted (Ctrl-C) or its reader goes away; both exit 0.")]
    Watch(WatchArgs),

    /// Browse, filter, mark and act on the queue interactively.
    #[command(after_help = "Examples:\n  mqctl --queue /var/spool/kannader tui\n  \
mqctl tui --filter \"--domain broken-dns.example\"\n  NO_COLOR=1 mqctl tui\n\nPress ? inside for the keys.")]
    Tui(TuiArgs),

    /// Build a realistic sample queue to try mqctl on.
    #[command(
        after_help = "Examples:\n  mqctl demo\n  mqctl demo --rm                # removed when you quit the TUI\n  \
mqctl demo /tmp/q && mqctl --queue /tmp/q stats"
    )]
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Records,
    Json,
    Jsonl,
    Ids,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    Id,
    State,
    At,
    LastAttempt,
    Size,
    Age,
    From,
    To,
    Subject,
}

#[derive(Debug, Args, Clone, Copy, Default)]
pub struct TimeArgs {
    /// Show times as UTC instead of relative (`in 3h`, `2d ago`).
    #[arg(long, conflicts_with = "local")]
    pub utc: bool,
    /// Show times in local time instead of relative.
    #[arg(long)]
    pub local: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// Output format (records: one field per line, what a table becomes
    /// when the terminal is too narrow for it).
    #[arg(long, short, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,

    /// With ids: separate them with NUL instead of newline (for xargs -0).
    #[arg(short = '0', long = "null")]
    pub null: bool,

    /// Sort by this field (tables sort by `at` unless told).
    #[arg(long, value_enum)]
    pub sort: Option<SortKey>,

    /// Reverse the sort order.
    #[arg(long, short)]
    pub reverse: bool,

    /// At most this many entries.
    #[arg(long, short = 'n', value_name = "N", value_parser = timespec::count, allow_hyphen_values = true)]
    pub limit: Option<usize>,

    /// Print only how many entries match.
    #[arg(long, short)]
    pub count: bool,

    /// Fields to show, comma separated (id,state,mail,dest,from,to,at,
    /// last_attempt,size,age,since,subject,message_id,problem).
    #[arg(long, value_delimiter = ',', value_name = "FIELDS")]
    pub fields: Vec<String>,

    #[command(flatten)]
    pub time: TimeArgs,

    #[command(flatten)]
    pub stuck: StuckArg,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Entry ids or unique prefixes (`-` reads them from stdin).
    #[arg(value_name = "ID", required = true, add = ArgValueCompleter::new(crate::select::complete::ids))]
    pub ids: Vec<String>,

    /// Print the message bytes (control characters are escaped on a terminal).
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,

    /// One JSON document with every field and all headers.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub time: TimeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatsFormat {
    Table,
    Json,
    Prometheus,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Output format (prometheus: node_exporter textfile-collector format).
    #[arg(long, short, value_enum, default_value_t = StatsFormat::Table)]
    pub format: StatsFormat,

    /// How many destination domains to show (the rest are summed as "other").
    #[arg(long, default_value_t = 15, value_name = "N", value_parser = timespec::count, allow_hyphen_values = true)]
    pub top: usize,

    #[command(flatten)]
    pub stuck: StuckArg,
}

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// Envelope sender (`<>` for the null sender).
    #[arg(long, value_name = "ADDRESS")]
    pub from: String,

    /// Envelope recipient (repeatable; one queue entry each).
    #[arg(long, value_name = "ADDRESS", required = true)]
    pub to: Vec<String>,

    /// The message (RFC 5322); `-` or nothing reads stdin.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// First attempt at this time (now, +2h, RFC 3339) instead of now.
    #[arg(long, value_name = "TIME", value_parser = timespec::when, allow_hyphen_values = true)]
    pub at: Option<When>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Hold the queued entries first and export them as queued: the old
    /// host cannot send them after the export.
    #[arg(long)]
    pub hold: bool,
    /// Write the archive to FILE (created 0600) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The archive; `-` or nothing reads stdin.
    #[arg(value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub file: Option<PathBuf>,

    /// Read and check the whole archive, print what would be imported, and
    /// change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation (asked only when FILE is a regular file
    /// and stdin a terminal).
    #[arg(long, short)]
    pub yes: bool,

    /// Also record each change as a JSON line in FILE (syslog always gets
    /// one). Opened before mqctl gives up root, so /var/log works.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub log: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WatchFormat {
    /// `TIME ID FROM -> TO (EVENT) RECIPIENT`, for people.
    Text,
    /// One JSON object per change: time, event, id, from, to, recipient, sender.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub select: SelectArgs,

    /// Output format.
    #[arg(long, short, value_enum, default_value_t = WatchFormat::Text)]
    pub format: WatchFormat,

    #[command(flatten)]
    pub stuck: StuckArg,
}

#[derive(Debug, Args)]
pub struct TuiArgs {
    /// Start with this filter (the selection flags as one string, plus free text).
    #[arg(long, value_name = "FILTER", default_value = "", allow_hyphen_values = true)]
    pub filter: String,

    #[command(flatten)]
    pub stuck: StuckArg,

    /// Also record each change made from the TUI as a JSON line in FILE
    /// (syslog always gets one).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to build the sample queue (must be empty or absent); a new
    /// temporary folder if not given.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// How many mails to put in it.
    #[arg(long, default_value_t = 1500, value_name = "N", value_parser = timespec::count, allow_hyphen_values = true)]
    pub mails: usize,

    /// Seed for the random choices (the same seed gives the same queue shape).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,

    /// Remove the sample queue when you quit the TUI (needs a terminal).
    #[arg(long)]
    pub rm: bool,
}

/// What every command that changes the queue takes.
#[derive(Debug, Args, Clone, Default)]
pub struct ChangeArgs {
    /// Act on every entry when no id or filter is given.
    #[arg(long)]
    pub all: bool,

    /// Print exactly what would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation (it is only asked on a terminal).
    #[arg(long, short)]
    pub yes: bool,

    /// Also record each change as a JSON line in FILE (syslog always gets
    /// one). Opened before mqctl gives up root, so /var/log works.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ChangeCmdArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct HoldArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Why: shown by list, show, stats and the TUI beside each held entry.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// When the hold ends: `release --expired` releases it from then on
    /// (RFC 3339, or `+DUR` from now).
    #[arg(long, value_name = "TIME", value_parser = timespec::when, allow_hyphen_values = true)]
    pub until: Option<When>,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Only the holds whose end (`hold --until`) has passed; a selection by
    /// itself (no --all needed).
    #[arg(long)]
    pub expired: bool,
    #[command(flatten)]
    pub pace: PaceArgs,
}

#[derive(Debug, Args)]
pub struct RescheduleArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// The next attempt: `now`, RFC 3339, or `+DUR` from now.
    #[arg(long, value_name = "TIME", value_parser = timespec::when, allow_hyphen_values = true)]
    pub at: When,
    #[command(flatten)]
    pub pace: PaceArgs,
}

/// Paced retry: next attempts spread over a window instead of all at once.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct PaceArgs {
    /// Spread the next attempts evenly over this long (from --at, or from
    /// now), the longest waiting first (e.g. 30m), instead of all at the
    /// same second.
    #[arg(long, value_name = "DUR", value_parser = timespec::duration, allow_hyphen_values = true)]
    pub spread: Option<SignedDuration>,
    /// And never more than this many attempts a minute to one destination
    /// domain (e.g. 10/min, 300/h); those over it come after the window.
    #[arg(long, value_name = "RATE", value_parser = crate::change::spread::rate)]
    pub per_domain_rate: Option<u32>,
}

impl PaceArgs {
    /// A paced change was asked for.
    pub fn is_paced(&self) -> bool {
        self.spread.is_some() || self.per_domain_rate.is_some()
    }
}

#[derive(Debug, Args)]
#[group(id = "how", required = true, multiple = false, args = ["by", "until"])]
pub struct DeferArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Push later by this much (from the current next attempt, or from now
    /// when that has passed).
    #[arg(long, value_name = "DUR", value_parser = timespec::duration, allow_hyphen_values = true)]
    pub by: Option<SignedDuration>,
    /// Push to this time (entries already later stay as they are).
    #[arg(long, value_name = "TIME", value_parser = timespec::when, allow_hyphen_values = true)]
    pub until: Option<When>,
}

#[derive(Debug, Args)]
pub struct DropArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Also drop inflight entries a writer may be sending right now (not
    /// only stuck ones).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub stuck: StuckArg,
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Also recover inflight entries that are not stuck yet (a writer may
    /// be sending them: they may be delivered twice).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub stuck: StuckArg,
    #[command(flatten)]
    pub pace: PaceArgs,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Leave temp files and orphan mails younger than this (a writer may be mid-write).
    #[arg(long, default_value = "1h", value_name = "DUR", value_parser = timespec::duration, allow_hyphen_values = true)]
    pub min_age: SignedDuration,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The log to read: the JSON lines the changing commands write with
    /// --log FILE. The undo's own changes are appended to it (unless
    /// --record), so a later undo takes this one back.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub log: PathBuf,
    /// Undo this run: its id in the log (`run`), or a unique prefix.
    /// Without --run or --since, the last run in the log.
    #[arg(long, value_name = "ID", conflicts_with = "since")]
    pub run: Option<String>,
    /// Undo every run that started at or after TIME (RFC 3339, `now`, `+DUR`).
    #[arg(long, value_name = "TIME", value_parser = timespec::when, allow_hyphen_values = true)]
    pub since: Option<When>,
    /// Record the undo's own changes in FILE instead of the log it reads.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub record: Option<PathBuf>,
    /// Print exactly what would be undone, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (it is only asked on a terminal).
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Table,
    Records,
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Fix what is safe; move what cannot be made right into quarantine/.
    #[arg(long)]
    pub repair: bool,
    /// With --repair: print what would be done, and do nothing.
    #[arg(long, requires = "repair")]
    pub dry_run: bool,
    /// With --repair: do not ask for confirmation (it is only asked on a terminal).
    #[arg(long, short, requires = "repair")]
    pub yes: bool,
    /// With --repair: also record each repair as a JSON line in FILE
    /// (syslog always gets one).
    #[arg(long, value_name = "FILE", requires = "repair", value_hint = clap::ValueHint::FilePath)]
    pub log: Option<PathBuf>,
    /// Output format (records: one field per line, what the table becomes
    /// when the terminal is too narrow for a path, problem or repair).
    #[arg(long, short, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
    /// Temp files, orphans and cleanups younger than this are left alone.
    #[arg(long, default_value = "1h", value_name = "DUR", value_parser = timespec::duration, allow_hyphen_values = true)]
    pub min_age: SignedDuration,
    #[command(flatten)]
    pub stuck: StuckArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl Shell {
    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
            Shell::Elvish => "elvish",
            Shell::Powershell => "powershell",
        }
    }
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Where to write man/ and completions/ (the project root keeps them committed).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// `--queue` / `MQCTL_QUEUE`: any path but an empty one (an empty
/// `MQCTL_QUEUE=` is a mistake in a script or a unit file, worth naming).
fn queue_dir(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err(
            "the queue path is empty (an empty MQCTL_QUEUE= counts as given): pass --queue DIR or set MQCTL_QUEUE=DIR"
                .into(),
        );
    }
    Ok(PathBuf::from(s))
}
