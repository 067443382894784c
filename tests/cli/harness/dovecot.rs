//! A real IMAP server for the inbox tests: Dovecot (Debian `dovecot-imapd`)
//! on a loopback port, plaintext, one passwd-file user, Maildir under a temp
//! directory. Messages arrive by IMAP APPEND, as a mail server would file
//! them; the server process is stopped when the value is dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::system_package;

const DOVECOT: &str = "/usr/sbin/dovecot";
pub const IMAP_USER: &str = "hoss@sender.example";
pub const IMAP_PASSWORD: &str = "imap-secret-9f3";

pub struct Dovecot {
    pub port: u16,
    dir: TempDir,
    child: Child,
}

/// Who Dovecot's helper processes run as. As root, the package's own
/// unprivileged users (Dovecot refuses to log in users as root); otherwise
/// the current user for everything.
fn service_users() -> (String, String, String) {
    let me = |flag: &str| {
        let out = Command::new("id").arg(flag).output().expect("id");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    if me("-u") == "0" {
        ("dovecot".into(), "dovenull".into(), "dovecot".into())
    } else {
        let user = me("-un");
        (user.clone(), user.clone(), user)
    }
}

impl Dovecot {
    /// Starts Dovecot, or returns `None` (after the loud SKIPPED line)
    /// when the package is missing.
    pub fn start() -> Option<Dovecot> {
        if !system_package("dovecot-imapd", Path::new(DOVECOT).exists()) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (internal, login, mail) = service_users();
        // Dovecot's users must reach the maildir and runtime directory.
        Command::new("chmod").arg("755").arg(root).status().unwrap();
        std::fs::create_dir_all(root.join("mail")).unwrap();
        std::fs::create_dir_all(root.join("run")).unwrap();
        Command::new("chown")
            .arg(format!("{mail}:"))
            .arg(root.join("mail"))
            .status()
            .unwrap();
        let port = free_port();
        let r = root.display();
        std::fs::write(
            root.join("users"),
            format!("{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}\n"),
        )
        .unwrap();
        std::fs::write(
            root.join("dovecot.conf"),
            format!(
                "base_dir = {r}/run
state_dir = {r}/run
log_path = {r}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {internal}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:{r}/mail/%n/Maildir
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r}/users
}}
userdb {{
  driver = static
  args = uid={mail} gid={mail} home={r}/mail/%n
}}
"
            ),
        )
        .unwrap();
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dovecot");
        let server = Dovecot { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "dovecot did not listen: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// Dovecot's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Files `raw` (an RFC 5322 message, `\n` or `\r\n` line ends) into
    /// `folder`, creating the folder when it does not exist.
    pub fn deliver(&self, folder: &str, raw: &str) {
        let raw = raw.replace("\r\n", "\n").replace('\n', "\r\n");
        let mut s = self.session();
        s.command(&format!("c CREATE \"{folder}\""), true);
        s.send(&format!("a APPEND \"{folder}\" {{{}}}\r\n", raw.len()));
        s.expect("+");
        s.send(&format!("{raw}\r\n"));
        s.expect("a OK");
    }

    /// Creates `folder` (an existing one is fine).
    pub fn create(&self, folder: &str) {
        self.session()
            .command(&format!("c CREATE \"{folder}\""), true);
    }

    /// Deletes and re-creates `folder`: the server gives it a new
    /// UIDVALIDITY, as after a mailbox rebuild.
    pub fn recreate(&self, folder: &str) {
        let mut s = self.session();
        s.command(&format!("d DELETE \"{folder}\""), false);
        // UIDVALIDITY is time-based: a new second makes it differ for sure.
        std::thread::sleep(Duration::from_millis(1100));
        s.command(&format!("c CREATE \"{folder}\""), false);
    }

    /// The IMAP flags of every message in `folder` (`FETCH 1:* FLAGS`), to
    /// prove hoss changed none.
    pub fn flags(&self, folder: &str) -> Vec<String> {
        let mut s = self.session();
        s.command(&format!("e EXAMINE \"{folder}\""), false);
        s.send("f FETCH 1:* (FLAGS)\r\n");
        let mut lines = Vec::new();
        loop {
            let line = s.line();
            if line.starts_with("f ") {
                return lines;
            }
            if line.contains("FETCH") {
                lines.push(line.trim().to_string());
            }
        }
    }

    fn session(&self) -> ImapTalk {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut talk = ImapTalk {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        talk.line();
        talk.command(
            &format!("l LOGIN \"{IMAP_USER}\" \"{IMAP_PASSWORD}\""),
            false,
        );
        talk
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line-by-line IMAP conversation for the test's own setup.
struct ImapTalk {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl ImapTalk {
    fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "IMAP server closed the connection");
        line
    }

    fn expect(&mut self, prefix: &str) {
        let tag = prefix.split(' ').next().unwrap();
        loop {
            let line = self.line();
            if line.starts_with(prefix) {
                return;
            }
            assert!(!line.starts_with(&format!("{tag} ")), "IMAP: {line}");
        }
    }

    /// Sends a tagged command and waits for its answer; `may_fail` accepts
    /// a NO (CREATE of a folder that exists).
    fn command(&mut self, command: &str, may_fail: bool) {
        let tag = command.split(' ').next().unwrap().to_string();
        self.send(&format!("{command}\r\n"));
        loop {
            let line = self.line();
            if let Some(status) = line.strip_prefix(&format!("{tag} ")) {
                assert!(
                    may_fail || status.starts_with("OK"),
                    "IMAP {command}: {line}"
                );
                return;
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
