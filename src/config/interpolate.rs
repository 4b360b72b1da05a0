//! `${VAR}` in the configuration and behavior files.
//!
//! Guarantees: a variable that holds a secret (by its name: SECRET, TOKEN,
//! PASSWORD, API_KEY, PRIVATE_KEY; or by its value: the same as such a
//! variable's) is never substituted, so no credential or model key can end up
//! in text the agent publishes; problems quote `${VAR}` as written, never its
//! value; `$${` writes a literal `${`.

use std::path::Path;

use super::Problem;

/// What interpolation substituted: (variable, value), to scrub from messages.
#[derive(Debug, Default, Clone)]
pub struct Substitutions(Vec<(String, String)>);

impl Substitutions {
    /// Rewrites every message that quotes a substituted value to show `${VAR}` instead.
    pub fn scrub(&self, problems: &mut [Problem]) {
        for p in problems {
            for (name, value) in &self.0 {
                if !value.trim().is_empty() && p.message.contains(value.as_str()) {
                    p.message = p.message.replace(value.as_str(), &format!("${{{name}}}"));
                }
            }
        }
    }

    fn add(&mut self, name: &str, value: &str) {
        if !self.0.iter().any(|(n, _)| n == name) {
            self.0.push((name.to_string(), value.to_string()));
            // Longest values first, so a value inside another is not replaced first.
            self.0.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        }
    }
}

/// Whether a variable's name says it holds a secret.
pub fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase().replace('-', "_");
    ["SECRET", "TOKEN", "PASSWORD", "PASSWD", "API_KEY", "APIKEY", "PRIVATE_KEY"].iter().any(|w| n.contains(w))
}

/// Whether `value` is the value of a secret-named variable of the environment.
fn secret_value(value: &str) -> bool {
    value.len() >= 8 && std::env::vars().any(|(k, v)| secret_name(&k) && v == value)
}

/// Replaces `${VAR}` with the environment's value; unknown and secret variables are problems.
pub fn interpolate(file: &Path, text: &str, problems: &mut Vec<Problem>, subs: &mut Substitutions) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        let mut col = 1;
        while let Some(start) = rest.find("${") {
            if start > 0 && rest.as_bytes()[start - 1] == b'$' {
                // `$${` is a literal `${`.
                out.push_str(&rest[..start - 1]);
                out.push_str("${");
                col += start + 2;
                rest = &rest[start + 2..];
                continue;
            }
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + end];
            out.push_str(&rest[..start]);
            let in_comment = rest[..start].contains('#');
            let at = col + start;
            match std::env::var(name) {
                _ if in_comment => out.push_str(&rest[start..start + end + 1]),
                Ok(v) if secret_name(name) || secret_value(&v) => problems.push(Problem::at(
                    file,
                    i + 1,
                    at,
                    format!(
                        "${{{name}}} holds a secret (a credential, token or key) and is not interpolated: text here can be published. \
                         Name the variable in the setting made for it instead (credentials_file, credentials_env, api_key_env)"
                    ),
                )),
                Ok(v) => {
                    subs.add(name, &v);
                    out.push_str(&v)
                }
                Err(_) => problems.push(Problem::at(file, i + 1, at, format!("environment variable {name} is not set"))),
            }
            col += start + end + 1;
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (String, Vec<Problem>, Substitutions) {
        let (mut p, mut s) = (vec![], Substitutions::default());
        let out = interpolate(Path::new("b.yaml"), text, &mut p, &mut s);
        (out, p, s)
    }

    #[test]
    fn a_doubled_dollar_is_a_literal() {
        let (out, p, _) = run("text: \"costs $${PRICE} and ${HOME}\"\n");
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(out, format!("text: \"costs ${{PRICE}} and {}\"\n", std::env::var("HOME").unwrap()));
    }

    #[test]
    fn secrets_are_refused_by_name_and_by_value() {
        // Names unique to this test.
        std::env::set_var("IA_TEST_CLIENT_SECRET", "s3cr3t-value-123456");
        std::env::set_var("IA_TEST_INNOCENT", "s3cr3t-value-123456");
        let (out, p, _) = run("text: \"a ${IA_TEST_CLIENT_SECRET} b ${IA_TEST_INNOCENT}\"\n");
        assert!(!out.contains("s3cr3t"), "{out}");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.iter().all(|p| p.message.contains("holds a secret") && !p.message.contains("s3cr3t")), "{p:?}");
        assert_eq!((p[0].line, p[0].column), (1, 10));
    }

    #[test]
    fn problems_quote_the_variable_not_its_value() {
        std::env::set_var("IA_TEST_PATTERN", "(unclosed-topsecret");
        let (_, _, subs) = run("regex: \"${IA_TEST_PATTERN}\"\n");
        let mut problems = vec![Problem::at(Path::new("b.yaml"), 1, 1, "invalid regex \"(unclosed-topsecret\": unclosed group")];
        subs.scrub(&mut problems);
        assert_eq!(problems[0].message, "invalid regex \"${IA_TEST_PATTERN}\": unclosed group");
    }
}
