//! Entries for a [`TestQueue`]: written file by file the writer's way
//! ([`TestQueue::entry`], every byte under the test's control), or
//! enqueued through the library ([`TestQueue::enqueue`], [`TestQueue::mail`],
//! [`TestQueue::simple`]), which also makes the folders and files carry the
//! machine's times.

use std::fs;
use std::time::SystemTime;

use jiff::{SignedDuration, Timestamp};
use mqctl::queue::address;
use mqctl::queue::write::EnqueueOptions;

use super::{State, TestQueue, at_mins, mkdir, now, uuid, write_0600};

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// The writer's JSON for an address typed as `local@domain` (the null sender
/// `<>` is `null`). Covers Ascii, QuotedAscii, Utf8 and QuotedUtf8 local
/// parts and ASCII, IPv4 and IPv6 hostnames (not UTF-8 domains).
pub fn address_json(s: &str) -> String {
    if s == "<>" {
        return "null".to_string();
    }
    let (local, domain) = s.rsplit_once('@').expect("address with @");
    let kind = match (local.starts_with('"'), local.is_ascii()) {
        (true, true) => "QuotedAscii",
        (true, false) => "QuotedUtf8",
        (false, true) => "Ascii",
        (false, false) => "Utf8",
    };
    let host = if let Some(ip) = domain.strip_prefix("[IPv6:").and_then(|r| r.strip_suffix(']')) {
        format!(r#"{{"Ipv6":{{"raw":{},"ip":{}}}}}"#, json_str(domain), json_str(ip))
    } else if let Some(ip) = domain.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        format!(r#"{{"Ipv4":{{"raw":{},"ip":{}}}}}"#, json_str(domain), json_str(ip))
    } else {
        assert!(
            domain.is_ascii(),
            "a UTF-8 domain needs its punycode: not supported here"
        );
        format!(r#"{{"AsciiDomain":{{"raw":{}}}}}"#, json_str(domain))
    };
    format!(
        r#"{{"localpart":{{"{kind}":{{"raw":{}}}}},"hostname":{host}}}"#,
        json_str(local)
    )
}

/// The writer's `metadata` text, in its key order, from two address JSONs.
pub fn metadata_json(from: &str, to: &str) -> String {
    format!(r#"{{"from":{from},"to":{to},"metadata":null}}"#)
}

/// The writer's `schedule` text (no trailing newline).
pub fn schedule_json(at: &str, last_attempt: Option<&str>) -> String {
    let last = last_attempt.map_or("null".to_string(), json_str);
    format!(r#"{{"at":{},"last_attempt":{last}}}"#, json_str(at))
}

/// One entry a test made: its names, and the state folder it was made in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Created {
    pub id: String,
    pub mail: String,
    pub dest: String,
    pub state: State,
}

impl Created {
    /// The link text: `../data/<mail>/<dest>`.
    pub fn link(&self) -> String {
        format!("../data/{}/{}", self.mail, self.dest)
    }
    /// Where the link was made, relative to the root: `<state>/<id>`.
    pub fn link_path(&self) -> String {
        format!("{}/{}", self.state.dir(), self.id)
    }
    /// `data/<mail>/<dest>`, relative to the root.
    pub fn dest_dir(&self) -> String {
        format!("data/{}/{}", self.mail, self.dest)
    }
    /// `data/<mail>`, relative to the root.
    pub fn mail_dir(&self) -> String {
        format!("data/{}", self.mail)
    }
    /// `data/<mail>/contents`, relative to the root.
    pub fn contents(&self) -> String {
        format!("data/{}/contents", self.mail)
    }
}

/// Sorted ids of some entries.
pub fn ids_of(entries: &[&Created]) -> Vec<String> {
    let mut v: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    v.sort();
    v
}

impl TestQueue {
    /// Starts one entry written file by file: a new mail with one
    /// recipient (or another recipient of a mail, with `in_mail`), due five
    /// minutes before [`super::NOW`], written five minutes before it.
    pub fn entry(&self) -> EntryBuilder<'_> {
        EntryBuilder::new(self)
    }

    /// Starts a mail to `to` enqueued through the library (as `mqctl
    /// enqueue` writes it): one entry per recipient in `queue/`, due a
    /// minute before the queue's clock, from alice@example.org, with a
    /// Subject and a Message-ID of its own.
    pub fn enqueue(&self, to: &[&str]) -> MailBuilder<'_> {
        MailBuilder {
            q: self,
            from: "alice@example.org".into(),
            to: to.iter().map(|t| t.to_string()).collect(),
            body: None,
            at: None,
            last_attempt: None,
            written: None,
        }
    }

    /// `enqueue(to).create()`: a mail with the defaults.
    pub fn mail(&self, to: &[&str]) -> Mail {
        self.enqueue(to).create()
    }

    /// A mail to `n` recipients `rcpt<i>@example.com`, due at `at`.
    pub fn simple(&self, n: usize, at: &str) -> Mail {
        let to: Vec<String> = (0..n).map(|i| format!("rcpt{i}@example.com")).collect();
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        self.enqueue(&to).at(super::ts(at)).create()
    }
}

/// Builds one entry the writer's way: `data/<mail>/contents`,
/// `data/<mail>/<dest>/{schedule,metadata}` (0600 in 0700 folders), then
/// the symlink. Times are relative to [`super::NOW`].
pub struct EntryBuilder<'a> {
    q: &'a TestQueue,
    id: String,
    mail: Option<String>,
    dest: String,
    from: String,
    from_text: String,
    to: String,
    to_text: String,
    at: String,
    last_attempt: Option<String>,
    subject: Option<String>,
    headers: Vec<(String, String)>,
    size: Option<usize>,
    age: SignedDuration,
    state: State,
    schedule: Option<Vec<u8>>,
    metadata: Option<Vec<u8>>,
    contents: Option<Vec<u8>>,
}

impl<'a> EntryBuilder<'a> {
    fn new(q: &'a TestQueue) -> Self {
        EntryBuilder {
            q,
            id: uuid(),
            mail: None,
            dest: uuid(),
            from: address_json("alice@example.org"),
            from_text: "alice@example.org".into(),
            to: address_json("bob@example.com"),
            to_text: "bob@example.com".into(),
            at: at_mins(-5),
            last_attempt: None,
            subject: Some("Test message".into()),
            headers: Vec::new(),
            size: None,
            age: SignedDuration::from_mins(5),
            state: State::Queue,
            schedule: None,
            metadata: None,
            contents: None,
        }
    }

    /// The entry's symlink name (default: a fresh UUID).
    pub fn id(mut self, id: &str) -> Self {
        self.id = id.into();
        self
    }
    /// A new mail named `name` (default: a fresh UUID), for output that
    /// shows the names.
    pub fn mail_name(mut self, name: &str) -> Self {
        self.mail = Some(name.into());
        self
    }
    /// The recipient's folder name (default: a fresh UUID).
    pub fn dest_name(mut self, name: &str) -> Self {
        self.dest = name.into();
        self
    }
    /// Another recipient of an existing mail (its contents are kept).
    pub fn in_mail(mut self, other: &Created) -> Self {
        self.mail = Some(other.mail.clone());
        self
    }
    /// Envelope sender typed as an address, `<>` for the null sender.
    pub fn from(mut self, a: &str) -> Self {
        self.from = address_json(a);
        self.from_text = a.into();
        self
    }
    /// Envelope sender as the writer's JSON (for hostile raw strings).
    pub fn sender_json(mut self, json: &str) -> Self {
        self.from = json.into();
        self
    }
    /// Envelope recipient typed as an address.
    pub fn to(mut self, a: &str) -> Self {
        self.to = address_json(a);
        self.to_text = a.into();
        self
    }
    /// Envelope recipient as the writer's JSON.
    pub fn recipient_json(mut self, json: &str) -> Self {
        self.to = json.into();
        self
    }
    /// Next attempt, `minutes` from [`super::NOW`].
    pub fn at_in(mut self, minutes: i64) -> Self {
        self.at = at_mins(minutes);
        self
    }
    /// A failed attempt `minutes_ago` before [`super::NOW`].
    pub fn tried(mut self, minutes_ago: i64) -> Self {
        self.last_attempt = Some(at_mins(-minutes_ago));
        self
    }
    /// The Subject header (default "Test message").
    pub fn subject(mut self, s: &str) -> Self {
        self.subject = Some(s.into());
        self
    }
    /// One more header line.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Pads the body so that `contents` is exactly `n` bytes.
    pub fn size(mut self, n: usize) -> Self {
        self.size = Some(n);
        self
    }
    /// How many minutes before [`super::NOW`] the message was written (the
    /// mtime of `contents`).
    pub fn age_mins(mut self, m: i64) -> Self {
        self.age = SignedDuration::from_mins(m);
        self
    }
    /// The state folder of the link (default `queue/`).
    pub fn state(mut self, s: State) -> Self {
        self.state = s;
        self
    }
    /// `schedule` bytes as given.
    pub fn raw_schedule(mut self, bytes: &[u8]) -> Self {
        self.schedule = Some(bytes.into());
        self
    }
    /// `metadata` bytes as given.
    /// The message bytes exactly (instead of the built message).
    pub fn contents(mut self, bytes: &[u8]) -> Self {
        self.contents = Some(bytes.to_vec());
        self
    }

    pub fn raw_metadata(mut self, bytes: &[u8]) -> Self {
        self.metadata = Some(bytes.into());
        self
    }

    fn message(&self) -> Vec<u8> {
        let mut m = String::new();
        let from = if self.from_text == "<>" { "" } else { &self.from_text };
        m.push_str(&format!("From: {from}\r\nTo: {}\r\n", self.to_text));
        if let Some(s) = &self.subject {
            m.push_str(&format!("Subject: {s}\r\n"));
        }
        m.push_str(&format!("Message-ID: <{}@test.example>\r\n", self.id));
        m.push_str("Date: Sun, 22 Nov 2026 20:00:00 +0000\r\n");
        for (n, v) in &self.headers {
            m.push_str(&format!("{n}: {v}\r\n"));
        }
        m.push_str("\r\nHello.\r\n");
        let mut bytes = m.into_bytes();
        if let Some(n) = self.size {
            assert!(
                n >= bytes.len(),
                "size {n} is smaller than the headers ({})",
                bytes.len()
            );
            bytes.resize(n, b'x');
        }
        bytes
    }

    /// Writes the entry and returns its names.
    pub fn create(self) -> Created {
        let q = self.q;
        let new_mail = self.mail.is_none() || !q.path(format!("data/{}", self.mail.as_ref().unwrap())).exists();
        let mail = self.mail.clone().unwrap_or_else(uuid);
        let mail_dir = q.path(format!("data/{mail}"));
        if new_mail {
            mkdir(&mail_dir);
            let contents = mail_dir.join("contents");
            let bytes = self.contents.clone().unwrap_or_else(|| self.message());
            write_0600(&contents, &bytes);
            let written = SystemTime::from(now() - self.age);
            fs::File::options()
                .write(true)
                .open(&contents)
                .unwrap()
                .set_modified(written)
                .unwrap();
        }
        let dest_dir = mail_dir.join(&self.dest);
        mkdir(&dest_dir);
        let schedule = self
            .schedule
            .clone()
            .unwrap_or_else(|| schedule_json(&self.at, self.last_attempt.as_deref()).into_bytes());
        let metadata = self
            .metadata
            .clone()
            .unwrap_or_else(|| metadata_json(&self.from, &self.to).into_bytes());
        write_0600(&dest_dir.join("schedule"), &schedule);
        write_0600(&dest_dir.join("metadata"), &metadata);
        q.plant_link(self.state, &self.id, format!("../data/{mail}/{}", self.dest));
        Created {
            id: self.id,
            mail,
            dest: self.dest,
            state: self.state,
        }
    }
}

/// Builds one mail enqueued through the library, see [`TestQueue::enqueue`].
pub struct MailBuilder<'a> {
    q: &'a TestQueue,
    from: String,
    to: Vec<String>,
    body: Option<Vec<u8>>,
    at: Option<Timestamp>,
    last_attempt: Option<Timestamp>,
    written: Option<Timestamp>,
}

impl MailBuilder<'_> {
    /// The envelope sender (`<>` for the null sender).
    pub fn from(mut self, a: &str) -> Self {
        self.from = a.into();
        self
    }
    /// The message bytes as given.
    pub fn body(mut self, bytes: &[u8]) -> Self {
        self.body = Some(bytes.into());
        self
    }
    /// The first attempt.
    pub fn at(mut self, t: Timestamp) -> Self {
        self.at = Some(t);
        self
    }
    /// A failed attempt at `t`.
    pub fn last_attempt(mut self, t: Timestamp) -> Self {
        self.last_attempt = Some(t);
        self
    }
    /// When the message was written (the mtime of `contents`; default: now).
    pub fn written(mut self, t: Timestamp) -> Self {
        self.written = Some(t);
        self
    }

    /// Enqueues the mail (not durably) and returns its names.
    pub fn create(self) -> Mail {
        let from = address::parse_sender(&self.from).unwrap();
        let to: Vec<_> = self.to.iter().map(|t| address::parse(t).unwrap()).collect();
        let body = self.body.unwrap_or_else(|| {
            format!(
                "From: alice@example.org\r\nTo: {}\r\nSubject: hello {}\r\nMessage-ID: <{}@example.org>\r\n\r\nbody\r\n",
                self.to.join(", "),
                uuid(),
                uuid()
            )
            .into_bytes()
        });
        let clock = self
            .q
            .now
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(Timestamp::now);
        let e = self
            .q
            .open()
            .enqueue(
                from.as_ref(),
                &to,
                &body,
                EnqueueOptions {
                    at: self.at.unwrap_or(clock - SignedDuration::from_secs(60)),
                    last_attempt: self.last_attempt,
                    written: self.written,
                    durable: false,
                },
            )
            .unwrap();
        let mail = e.mail.to_string();
        let entries = e
            .entries
            .iter()
            .map(|n| Created {
                id: n.id.to_string(),
                mail: mail.clone(),
                dest: n.dest.to_string(),
                state: State::Queue,
            })
            .collect();
        Mail { mail, entries }
    }
}

/// A mail enqueued through the library: its folder name and one entry per
/// recipient. It reads as the slice of its entries (`m[1].id`); `id()`,
/// `dest()`, `link()` and `dest_dir()` are its first entry's.
#[derive(Debug, Clone)]
pub struct Mail {
    pub mail: String,
    pub entries: Vec<Created>,
}

impl Mail {
    /// The first entry's id.
    pub fn id(&self) -> &str {
        &self.entries[0].id
    }
    /// The first entry's dest folder name.
    pub fn dest(&self) -> &str {
        &self.entries[0].dest
    }
    /// The first entry's link text.
    pub fn link(&self) -> String {
        self.entries[0].link()
    }
    /// The first entry's `data/<mail>/<dest>`.
    pub fn dest_dir(&self) -> String {
        self.entries[0].dest_dir()
    }
    /// `data/<mail>`.
    pub fn mail_dir(&self) -> String {
        format!("data/{}", self.mail)
    }
}

impl std::ops::Deref for Mail {
    type Target = [Created];
    fn deref(&self) -> &[Created] {
        &self.entries
    }
}
