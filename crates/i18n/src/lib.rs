//! Rust-side texts in the same catalogues as the Slint UI (`lang/`).
//!
//! A visitor-facing text is a [`Message`]: an Italian template written with [`msg!`] (`{}` for
//! each value) and its values. The template is the `msgid` in `lang/<code>/LC_MESSAGES/
//! sportello.po`; Italian needs no catalogue. A test extracts every `msg!` template from the
//! sources and fails on one without an English or German entry.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language of the kiosk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Italiano (the source texts).
    It,
    /// English.
    En,
    /// Deutsch.
    De,
}

impl Lang {
    /// From `it`, `en`, `de`; anything else is Italian.
    pub fn from_code(code: &str) -> Lang {
        match code {
            "en" => Lang::En,
            "de" => Lang::De,
            _ => Lang::It,
        }
    }
}

/// Makes a [`Message`] from an Italian template literal and its values.
#[macro_export]
macro_rules! msg {
    ($template:literal $(, $arg:expr)* $(,)?) => {
        $crate::Message::new($template, vec![$(($arg).to_string()),*])
    };
}

/// An error or answer a visitor reads, in any language of the kiosk.
pub trait Localized {
    /// The text, as a translatable message.
    fn localized(&self) -> Message;
}

/// A text for a person, translatable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    template: &'static str,
    args: Vec<String>,
}

impl Message {
    /// Use [`msg!`], which the catalogue test can find.
    pub fn new(template: &'static str, args: Vec<String>) -> Self {
        Self { template, args }
    }

    /// The Italian template (the catalogue's `msgid`).
    pub fn template(&self) -> &'static str {
        self.template
    }

    /// The values put into the template.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// A message another process of this program sent as its template and values: the
    /// template is looked up among the catalogue's, so it translates like one made here; a
    /// template this build does not know (another version) stays in Italian.
    pub fn received(template: &str, args: Vec<String>) -> Self {
        match catalogues().0.get_key_value(template) {
            Some((known, _)) => Self {
                template: known.as_str(),
                args,
            },
            None => msg!("{}", fill(template, &args)),
        }
    }

    /// The text in `lang`. A value that is itself a catalogue text (a state's label made with
    /// `msg!`) is translated too; codes and numbers never are catalogue texts.
    pub fn text(&self, lang: Lang) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| lookup(lang, a).unwrap_or(a).to_owned())
            .collect();
        fill(translate(lang, self.template), &args)
    }
}

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text(Lang::It))
    }
}

/// The text with its first letter upper-case: messages are written to follow "…: ", and
/// stand alone as sentences on screens.
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Puts `args` into the `{}` of `template`, in order.
pub fn fill(template: &str, args: &[String]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut args = args.iter();
    let mut rest = template;
    while let Some(at) = rest.find("{}") {
        out.push_str(&rest[..at]);
        out.push_str(args.next().map(String::as_str).unwrap_or(""));
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    out
}

/// The catalogue entry of `template` in `lang`, or the template itself.
pub fn translate(lang: Lang, template: &'static str) -> &'static str {
    lookup(lang, template).unwrap_or(template)
}

fn lookup(lang: Lang, text: &str) -> Option<&'static str> {
    match lang {
        Lang::It => None,
        Lang::En => catalogues().0.get(text).map(String::as_str),
        Lang::De => catalogues().1.get(text).map(String::as_str),
    }
}

fn catalogues() -> &'static (HashMap<String, String>, HashMap<String, String>) {
    static CATALOGUES: OnceLock<(HashMap<String, String>, HashMap<String, String>)> =
        OnceLock::new();
    CATALOGUES.get_or_init(|| {
        (
            parse_po(include_str!("../../../lang/en/LC_MESSAGES/sportello.po")),
            parse_po(include_str!("../../../lang/de/LC_MESSAGES/sportello.po")),
        )
    })
}

/// Reads the `msgid`/`msgstr` pairs of a `.po` file (single-line entries, as ours are).
pub fn parse_po(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut id: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("msgid \"") {
            id = Some(unquote(rest));
        } else if let Some(rest) = line.strip_prefix("msgstr \"")
            && let Some(id) = id.take().filter(|i| !i.is_empty())
        {
            out.insert(id, unquote(rest));
        }
    }
    out
}

/// The body of a quoted `.po` string, after its opening quote.
pub fn unquote(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_in_order_and_translate() {
        assert_eq!(fill("{} e {}", &["a".into(), "b".into()]), "a e b");
        let m = msg!("{} in attesa", 3);
        assert_eq!(m.text(Lang::It), "3 in attesa");
        assert_eq!(m.text(Lang::En), "3 waiting");
        assert_eq!(m.text(Lang::De), "3 wartend");
        assert_eq!(m.to_string(), "3 in attesa");
        let sent = Message::received(m.template(), m.args().to_vec());
        assert_eq!(sent, m);
        assert_eq!(sent.text(Lang::En), "3 waiting");
        let unknown = Message::received("{} altrove", vec!["5".into()]);
        assert_eq!(unknown.text(Lang::En), "5 altrove");
    }
}
