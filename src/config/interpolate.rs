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
fn secret_value(value: &str, env: &[(String, String)]) -> bool {
    value.len() >= 8 && env.iter().any(|(k, v)| secret_name(k) && v == value)
}

/// Replaces `${VAR}` with the environment's value; unknown and secret variables are problems.
pub fn interpolate(file: &Path, text: &str, problems: &mut Vec<Problem>, subs: &mut Substitutions) -> String {
    let env: Vec<(String, String)> = std::env::vars().collect();
    interpolate_from(file, text, problems, subs, &env)
}

/// [`interpolate`] with the variables of `env` (the process's, or a test's own).
fn interpolate_from(file: &Path, text: &str, problems: &mut Vec<Problem>, subs: &mut Substitutions, env: &[(String, String)]) -> String {
    let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
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
            match var(name) {
                _ if in_comment => out.push_str(&rest[start..start + end + 1]),
                Some(v) if secret_name(name) || secret_value(&v, env) => problems.push(Problem::at(
                    file,
                    i + 1,
                    at,
                    format!(
                        "${{{name}}} holds a secret (a credential, token or key) and is not interpolated: text here can be published. \
                         Name the variable in the setting made for it instead (credentials_file, credentials_env, api_key_env)"
                    ),
                )),
                Some(v) => {
                    subs.add(name, &v);
                    out.push_str(&v)
                }
                None => problems.push(Problem::at(file, i + 1, at, format!("environment variable {name} is not set"))),
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

    /// Interpolates `text` with the variables `env` (no process environment: tests run in parallel).
    fn run_with(text: &str, env: &[(&str, &str)]) -> (String, Vec<Problem>, Substitutions) {
        let (mut p, mut s) = (vec![], Substitutions::default());
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let out = interpolate_from(Path::new("b.yaml"), text, &mut p, &mut s, &env);
        (out, p, s)
    }

    #[test]
    fn a_doubled_dollar_is_a_literal() {
        let (out, p, _) = run_with("text: \"costs $${PRICE} and ${HOME}\"\n", &[("HOME", "/home/agent")]);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(out, "text: \"costs ${PRICE} and /home/agent\"\n");
    }

    #[test]
    fn secrets_are_refused_by_name_and_by_value() {
        let env = [("IA_TEST_CLIENT_SECRET", "s3cr3t-value-123456"), ("IA_TEST_INNOCENT", "s3cr3t-value-123456")];
        let (out, p, _) = run_with("text: \"a ${IA_TEST_CLIENT_SECRET} b ${IA_TEST_INNOCENT}\"\n", &env);
        assert!(!out.contains("s3cr3t"), "{out}");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.iter().all(|p| p.message.contains("holds a secret") && !p.message.contains("s3cr3t")), "{p:?}");
        assert_eq!((p[0].line, p[0].column), (1, 10));
    }

    #[test]
    fn an_unset_variable_is_a_problem_at_its_place() {
        let (_, p, _) = run_with("a: 1\nb: \"x ${IA_TEST_UNSET}\"\n", &[]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].line, p[0].column), (2, 7));
        assert!(p[0].message.contains("IA_TEST_UNSET is not set"), "{p:?}");
    }

    #[test]
    fn problems_quote_the_variable_not_its_value() {
        let (_, _, subs) = run_with("regex: \"${IA_TEST_PATTERN}\"\n", &[("IA_TEST_PATTERN", "(unclosed-topsecret")]);
        let mut problems = vec![Problem::at(Path::new("b.yaml"), 1, 1, "invalid regex \"(unclosed-topsecret\": unclosed group")];
        subs.scrub(&mut problems);
        assert_eq!(problems[0].message, "invalid regex \"${IA_TEST_PATTERN}\": unclosed group");
    }
}
