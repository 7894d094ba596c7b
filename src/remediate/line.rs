//! Command lines that are safe to paste: each command's words quoted for a POSIX shell, printed
//! only when pasting the line into an interactive shell runs exactly those words, else withheld
//! with the reason.
//!
//! A command may come in several forms, the first the most readable: when a name in it is not
//! safe to paste, a form that names the same objects by id only is printed instead; when no form
//! is safe, the command is withheld.

use crate::output::escape::{is_hostile, visible};

/// Shell command lines, each once, in the order added, and why any others were withheld.
#[derive(Default)]
pub(crate) struct Commands {
    pub lines: Vec<String>,
    pub withheld: Vec<String>,
}

impl Commands {
    /// Adds a command that has one form.
    pub fn push(&mut self, words: &[&str]) {
        self.push_first([words]);
    }

    /// Adds the first paste-safe form of a command; when none is safe, says why the last form
    /// (the one that names things by id) is not.
    pub fn push_first<'w, W: AsRef<str> + 'w>(&mut self, forms: impl IntoIterator<Item = &'w [W]>) {
        let mut refused = None;
        for form in forms {
            let words: Vec<&str> = form.iter().map(AsRef::as_ref).collect();
            match paste_safe_line(&words) {
                Ok(line) => {
                    if !self.lines.contains(&line) {
                        self.lines.push(line);
                    }
                    return;
                }
                Err(why) => refused = Some(why),
            }
        }
        if let Some(why) = refused.filter(|why| !self.withheld.contains(why)) {
            self.withheld.push(why);
        }
    }
}

/// The command line for `words`, when pasting it into an interactive shell runs exactly those
/// words: quoting holds against the shell, but readline acts on control characters before the
/// shell sees them (`\x01` moves the cursor to the line start), and bidi controls make the line
/// read differently from what runs.
fn paste_safe_line(words: &[&str]) -> Result<String, String> {
    if let Some(word) = words.iter().find(|w| w.chars().any(is_hostile)) {
        let verb: Vec<&str> = words
            .iter()
            .copied()
            .take_while(|w| !w.starts_with("--"))
            .collect();
        return Err(format!(
            "no `{}` command: {} holds control or bidi characters, which are not safe to paste \
             into a shell; fix it in the cloud's console or rename it first",
            verb.join(" "),
            visible(word)
        ));
    }
    // Only a NUL byte makes quoting fail, and `is_hostile` has refused it.
    Ok(shlex::try_join(words.iter().copied()).expect("no NUL byte in the words"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_safe_form_is_printed_else_the_last_reason() {
        let named: &[&str] = &["az", "rest", "--uri", "policies/web\x01-jit"];
        let by_id: &[&str] = &["az", "rest", "--uri", "policies/vm-7-jit"];
        let hostile_id: &[&str] = &["az", "rest", "--uri", "policies/vm\x07-jit"];
        for (forms, line, why) in [
            (
                vec![by_id, named],
                Some("az rest --uri policies/vm-7-jit"),
                None,
            ),
            (
                vec![named, by_id],
                Some("az rest --uri policies/vm-7-jit"),
                None,
            ),
            (
                vec![named, hostile_id],
                None,
                Some("policies/vm\\x07-jit holds"),
            ),
            (vec![named], None, Some("policies/web\\x01-jit holds")),
        ] {
            let mut commands = Commands::default();
            commands.push_first(forms.iter().copied());
            assert_eq!(
                commands.lines.first().map(String::as_str),
                line,
                "{forms:?}"
            );
            match why {
                Some(why) => {
                    assert_eq!(commands.withheld.len(), 1, "{forms:?}");
                    assert!(
                        commands.withheld[0].contains(why),
                        "{:?}",
                        commands.withheld
                    );
                    assert!(commands.withheld[0].starts_with("no `az rest` command"));
                }
                None => assert!(commands.withheld.is_empty(), "{forms:?}"),
            }
        }
    }

    #[test]
    fn a_command_is_printed_once() {
        let mut commands = Commands::default();
        commands.push(&["aws", "ec2", "x y"]);
        commands.push(&["aws", "ec2", "x y"]);
        assert_eq!(commands.lines, ["aws ec2 'x y'"]);
    }
}
