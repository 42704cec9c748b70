//! Password hashes, tokens and the login limiter, as both servers use them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

/// Failed logins allowed per address and per account in [`WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// The rate-limit window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// The longest password a login reads: longer is a wrong password, counted but never hashed.
pub const MAX_PASSWORD: usize = 1024;

/// Password checks that may run at once in one process. Each argon2id check takes 19 MiB and a
/// core for tens of milliseconds: a burst of logins from the LAN or the internet waits its turn
/// instead of taking the machine's memory (a Raspberry Pi's, for the kiosk).
pub const CONCURRENT_CHECKS: usize = 2;

/// How long a login waits for its turn before it is told to try again.
pub const CHECK_WAIT: Duration = Duration::from_secs(10);

/// Checks a password against a PHC string off the async workers, at most
/// [`CONCURRENT_CHECKS`] at a time; `None` when the turn did not come within [`CHECK_WAIT`]
/// (the caller answers "busy, try again", and the attempt stays counted).
pub async fn check_password(password: String, phc: String) -> Option<bool> {
    static TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_CHECKS);
    let turn = tokio::time::timeout(CHECK_WAIT, TURNS.acquire())
        .await
        .ok()?
        .ok()?;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .ok();
    drop(turn);
    ok
}

/// A hash that costs as much to check as a real one: unknown users take the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default())
}

/// A user name: 2 to 64 letters, digits, dots, dashes or underscores.
pub fn check_username(username: &str) -> Result<(), String> {
    if (2..=64).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        Ok(())
    } else {
        Err("the user name is 2 to 64 letters, digits, dots, dashes or underscores".into())
    }
}

/// A password: at least 10 characters.
pub fn check_password_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < 10 {
        return Err("the password must be at least 10 characters".into());
    }
    Ok(())
}

/// Random hex of `bytes` bytes.
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("the system random source works");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What the store keeps of a session cookie.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether `given` is the secret `expected` (a bearer token), compared as SHA-256 digests
/// without an early exit: the time taken says nothing of the secret, not even its length.
pub fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (token_hash(given), token_hash(expected));
    a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Compares without an early exit, so timing says nothing about the CSRF token.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The session cookie's value from a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Failed-login counters. In memory: a restart forgets them, which costs an attacker a reboot
/// of the kiosk per five guesses.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: HashMap<String, Vec<Instant>>,
}

impl LoginLimiter {
    /// The two counters a login attempt counts against: its address and its account. A name
    /// longer than any valid one counts under its first 64 characters, so a key stays small
    /// enough to store and index.
    pub fn keys(ip: IpAddr, username: &str) -> [String; 2] {
        let name: String = username.chars().take(64).collect();
        [format!("ip:{ip}"), format!("user:{}", name.to_lowercase())]
    }

    /// Counts an attempt as failed *before* its password is checked, so that a burst of
    /// concurrent attempts cannot all pass the limit while the first ones are still hashing.
    /// `Err(seconds to wait)` when blocked; `Ok(when)` for [`Self::succeeded`].
    pub fn reserve(&mut self, ip: IpAddr, username: &str, now: Instant) -> Result<Instant, u64> {
        if let Some(wait) = self.blocked(ip, username, now) {
            return Err(wait);
        }
        self.failed(ip, username, now);
        Ok(now)
    }

    /// Seconds to wait before another attempt, if blocked.
    pub fn blocked(&mut self, ip: IpAddr, username: &str, now: Instant) -> Option<u64> {
        let mut wait = None;
        for key in Self::keys(ip, username) {
            if let Some(v) = self.failures.get_mut(&key) {
                v.retain(|t| now.duration_since(*t) < WINDOW);
                if v.len() >= MAX_FAILURES {
                    let oldest = v[0];
                    let left = WINDOW.saturating_sub(now.duration_since(oldest)).as_secs() + 1;
                    wait = Some(wait.map_or(left, |w: u64| w.max(left)));
                }
            }
        }
        wait
    }

    /// Records a failure.
    pub fn failed(&mut self, ip: IpAddr, username: &str, now: Instant) {
        for key in Self::keys(ip, username) {
            self.failures.entry(key).or_default().push(now);
        }
    }

    /// A success clears the account's counter; the address keeps its failures but no longer
    /// counts the attempt [`Self::reserve`]d at `reserved`.
    pub fn succeeded(&mut self, ip: IpAddr, username: &str, reserved: Instant) {
        let [address, user] = Self::keys(ip, username);
        self.failures.remove(&user);
        if let Some(v) = self.failures.get_mut(&address)
            && let Some(i) = v.iter().position(|t| *t == reserved)
        {
            v.remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_themselves() {
        assert!(same_secret("metriche-0123", "metriche-0123"));
        assert!(!same_secret("metriche-012", "metriche-0123"));
        assert!(!same_secret("", "metriche-0123"));
        assert!(!same_secret("metriche-0124", "metriche-0123"));
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn the_limiter_blocks_after_five_failures_per_address_or_account() {
        let mut l = LoginLimiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(l.blocked(ip, "mrossi", t), None);
            l.failed(ip, "mrossi", t);
        }
        assert!(
            l.blocked(ip, "someone", t).is_some(),
            "the address is blocked"
        );
        assert!(l.blocked(other, "MRossi", t).is_some(), "so is the account");
        assert_eq!(l.blocked(other, "someone", t), None);
        assert_eq!(l.blocked(ip, "mrossi", t + WINDOW), None, "it expires");
    }

    #[test]
    fn attempts_are_counted_before_they_are_checked() {
        let mut l = LoginLimiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t = Instant::now();
        // Five attempts in flight at once: the sixth is refused before any is checked.
        let reserved: Vec<Instant> = (0..MAX_FAILURES)
            .map(|_| l.reserve(ip, "mrossi", t).unwrap())
            .collect();
        assert!(l.reserve(ip, "mrossi", t).is_err());
        // One of them was the right password: the account is free again, and the address no
        // longer counts that attempt.
        l.succeeded(ip, "mrossi", reserved[0]);
        assert!(l.reserve(ip, "mrossi", t).is_ok());
        assert!(
            l.reserve(ip, "someone", t).is_err(),
            "the address has five again"
        );
    }

    #[tokio::test]
    async fn checks_run_a_few_at_a_time_and_all_answer() {
        let h = hash_password("correct horse battery").unwrap();
        let checks: Vec<_> = (0..6)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move {
                    let guess = if i == 0 {
                        "correct horse battery"
                    } else {
                        "no"
                    };
                    check_password(guess.into(), h).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for c in checks {
            answers.push(c.await.unwrap());
        }
        assert_eq!(answers[0], Some(true));
        assert!(
            answers[1..].iter().all(|a| *a == Some(false)),
            "{answers:?}"
        );
    }

    #[test]
    fn cookies_and_tokens() {
        assert_eq!(
            cookie_value("a=1; __Host-sportello=abc; b=2", "__Host-sportello"),
            Some("abc")
        );
        assert_eq!(cookie_value("a=1", "__Host-sportello"), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
        assert_eq!(random_hex(16).len(), 32);
        assert_eq!(token_hash("x").len(), 32);
    }
}
