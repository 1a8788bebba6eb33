//! Application variables and the `fermyon:spin/variables` interface.
//!
//! Spin resolves a component's variable by expanding its template from
//! `[component.x.variables]` with application variable values. Values come from
//! (highest first) explicit overrides (`spin up --variable`), the environment
//! (`SPIN_VARIABLE_<NAME>`), then the manifest default. This host resolves all
//! application values once at startup, which also makes a missing required
//! variable a startup error, as in Spin.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _};

use crate::bindings::fermyon::spin::variables as wit;
use crate::manifest::VariableDecl;

/// Prefix Spin's environment provider puts before the upper-cased name.
const ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// Resolved application variable values, shared by all components.
#[derive(Debug, Default)]
pub(crate) struct AppVariables {
    values: HashMap<String, String>,
}

impl AppVariables {
    /// Resolves every declared variable. `env` looks up an environment variable.
    pub(crate) fn resolve(
        decls: &BTreeMap<String, VariableDecl>,
        overrides: &HashMap<String, String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        for name in overrides.keys() {
            if !decls.contains_key(name) {
                // Spin ignores values for undeclared variables too; say so, since
                // it usually means a typo in a test or a command line.
                eprintln!("hookah-host: ignoring value for undeclared variable {name:?}");
            }
        }
        let mut values = HashMap::new();
        let mut missing = Vec::new();
        for (name, decl) in decls {
            validate_name(name).map_err(|e| anyhow!("variable {name:?}: {e}"))?;
            let env_name = format!("{ENV_PREFIX}{}", name.to_ascii_uppercase());
            let value = overrides.get(name).cloned().or_else(|| env(&env_name)).or_else(|| decl.default.clone());
            match value {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            bail!(
                "no value for required variable(s) {missing:?}: set SPIN_VARIABLE_<NAME> \
                 or pass an override"
            );
        }
        Ok(Self { values })
    }

    /// Expands a template; every name in it must be a declared variable.
    pub(crate) fn expand(&self, template: &Template) -> Result<String, String> {
        let mut out = String::new();
        for part in &template.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(name) => match self.values.get(name) {
                    Some(v) => out.push_str(v),
                    None => return Err(format!("unknown variable {name:?}")),
                },
            }
        }
        Ok(out)
    }

    fn is_declared(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

/// A string with `{{ name }}` expressions, as in Spin's `spin-expressions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(String),
}

impl Template {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(expr_rest) = rest.strip_prefix("{{") {
                let Some((expr, after)) = expr_rest.split_once("}}") else {
                    return Err("unmatched '{{' in template".to_string());
                };
                parts.push(Part::Var(expr.trim().to_string()));
                rest = after;
            } else {
                let end = rest.find("{{").unwrap_or(rest.len());
                parts.push(Part::Lit(rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
        Ok(Self { parts })
    }

    fn var_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(n) => Some(n.as_str()),
            Part::Lit(_) => None,
        })
    }

    pub(crate) fn is_literal(&self) -> bool {
        self.var_names().next().is_none()
    }
}

/// Spin's variable-name rule: lower snake case, starting with a letter,
/// ending with a letter or digit, no double underscores.
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    let (Some(first), Some(last)) = (name.bytes().next(), name.bytes().last()) else {
        return Err("must not be empty".to_string());
    };
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
        return Err(format!(
            "invalid character {c:?}; variable names may contain only lower-case letters, \
             numbers, and underscores"
        ));
    }
    if !first.is_ascii_lowercase() {
        return Err("must start with a lowercase ASCII letter".to_string());
    }
    if !last.is_ascii_alphanumeric() {
        return Err("must end with a lowercase ASCII letter or digit".to_string());
    }
    if name.contains("__") {
        return Err("must not contain multiple consecutive underscores".to_string());
    }
    Ok(())
}

/// One component's variables: its templates plus the shared app values.
#[derive(Debug)]
pub(crate) struct ComponentVariables {
    component: String,
    templates: HashMap<String, Template>,
    app: Arc<AppVariables>,
}

/// Why `get` failed; mirrors the WIT variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VariableError {
    InvalidName(String),
    Undefined(String),
    Other(String),
}

impl ComponentVariables {
    /// Validates a component's `[component.x.variables]` against the app's variables.
    pub(crate) fn new(
        component: &str,
        decls: &BTreeMap<String, String>,
        app: Arc<AppVariables>,
    ) -> anyhow::Result<Self> {
        let mut templates = HashMap::new();
        for (name, text) in decls {
            validate_name(name).map_err(|e| anyhow!("component {component:?} variable {name:?}: {e}"))?;
            let template = Template::parse(text)
                .map_err(|e| anyhow!(e))
                .with_context(|| format!("component {component:?} variable {name:?}"))?;
            if let Some(unknown) = template.var_names().find(|v| !app.is_declared(v)) {
                bail!(
                    "component {component:?} variable {name:?} refers to unknown variable \
                     {unknown:?}"
                );
            }
            templates.insert(name.clone(), template);
        }
        Ok(Self { component: component.to_string(), templates, app })
    }

    pub(crate) fn get(&self, name: &str) -> Result<String, VariableError> {
        validate_name(name).map_err(|e| VariableError::InvalidName(format!("{name:?}: {e}")))?;
        let template = self
            .templates
            .get(name)
            .ok_or_else(|| VariableError::Undefined(format!("no variable for {:?}.{name:?}", self.component)))?;
        self.app.expand(template).map_err(VariableError::Other)
    }
}

impl From<VariableError> for wit::Error {
    fn from(e: VariableError) -> Self {
        match e {
            VariableError::InvalidName(m) => wit::Error::InvalidName(m),
            VariableError::Undefined(m) => wit::Error::Undefined(m),
            VariableError::Other(m) => wit::Error::Other(m),
        }
    }
}

/// Per-instance state behind `fermyon:spin/variables`.
pub(crate) struct VariablesHost {
    pub(crate) vars: Arc<ComponentVariables>,
}

impl wit::Host for VariablesHost {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, wit::Error>> {
        Ok(self.vars.get(&name).map_err(Into::into))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(default: Option<&str>) -> VariableDecl {
        VariableDecl { default: default.map(str::to_string), required: default.is_none(), secret: false }
    }

    fn app(env: &[(&str, &str)], overrides: &[(&str, &str)]) -> anyhow::Result<AppVariables> {
        let decls = BTreeMap::from([
            ("api_token".to_string(), decl(None)),
            ("timeout".to_string(), decl(Some("15s"))),
            ("empty".to_string(), decl(Some(""))),
        ]);
        let overrides = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AppVariables::resolve(&decls, &overrides, |k| env.get(k).cloned())
    }

    fn component(app: AppVariables, decls: &[(&str, &str)]) -> anyhow::Result<ComponentVariables> {
        let decls = decls.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ComponentVariables::new("c", &decls, Arc::new(app))
    }

    #[test]
    fn required_variable_without_value_fails_startup() {
        assert!(app(&[], &[]).is_err());
        assert!(app(&[("SPIN_VARIABLE_API_TOKEN", "t")], &[]).is_ok());
    }

    #[test]
    fn precedence_is_override_then_env_then_default() {
        let vars = component(
            app(
                &[("SPIN_VARIABLE_API_TOKEN", "from-env"), ("SPIN_VARIABLE_TIMEOUT", "30s")],
                &[("api_token", "from-override")],
            )
            .unwrap(),
            &[("api_token", "{{ api_token }}"), ("timeout", "{{timeout}}"), ("empty", "{{ empty }}")],
        )
        .unwrap();
        assert_eq!(vars.get("api_token"), Ok("from-override".into()));
        assert_eq!(vars.get("timeout"), Ok("30s".into()));
        assert_eq!(vars.get("empty"), Ok("".into()));
    }

    #[test]
    fn templates_mix_literals_and_expressions() {
        let vars = component(
            app(&[("SPIN_VARIABLE_API_TOKEN", "tok")], &[]).unwrap(),
            &[("header", "Bearer {{ api_token }}!"), ("both", "{{ api_token }}/{{ timeout }}"), ("plain", "literal")],
        )
        .unwrap();
        assert_eq!(vars.get("header"), Ok("Bearer tok!".into()));
        assert_eq!(vars.get("both"), Ok("tok/15s".into()));
        assert_eq!(vars.get("plain"), Ok("literal".into()));
    }

    #[test]
    fn get_errors_follow_spin() {
        let vars =
            component(app(&[("SPIN_VARIABLE_API_TOKEN", "tok")], &[]).unwrap(), &[("api_token", "{{ api_token }}")])
                .unwrap();
        assert!(matches!(vars.get("timeout"), Err(VariableError::Undefined(_))));
        for bad in ["", "API_TOKEN", "1abc", "a__b", "a_", "a-b", "_a"] {
            assert!(matches!(vars.get(bad), Err(VariableError::InvalidName(_))), "{bad:?}");
        }
    }

    #[test]
    fn bad_component_templates_fail_startup() {
        let a = || app(&[("SPIN_VARIABLE_API_TOKEN", "t")], &[]).unwrap();
        assert!(component(a(), &[("x", "{{ nope }}")]).is_err());
        assert!(component(a(), &[("x", "{{ api_token")]).is_err());
        assert!(component(a(), &[("Bad", "v")]).is_err());
    }

    #[test]
    fn template_parts() {
        assert_eq!(Template::parse("").unwrap().parts, vec![]);
        assert_eq!(
            Template::parse("a-{{ x }}-b").unwrap().parts,
            vec![Part::Lit("a-".into()), Part::Var("x".into()), Part::Lit("-b".into())]
        );
        assert!(Template::parse("lit").unwrap().is_literal());
    }
}
