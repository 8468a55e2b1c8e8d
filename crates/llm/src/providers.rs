//! Which providers the server knows, from the ecosystem's usual variables:
//!
//! - `OPENAI_API_KEY` and `OPENAI_BASE_URL` make provider `openai`;
//! - `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL` make provider `anthropic`;
//! - `ANDIBASE_MODEL_PROVIDERS` names more, comma-separated: `name=url` for an
//!   OpenAI-compatible server (Ollama, vLLM, llama.cpp, DeepSeek…), `name=anthropic:url`
//!   for an Anthropic-compatible one; each one's key is `<NAME>_API_KEY`, if set;
//! - `ANDIBASE_DEFAULT_MODEL` (`provider/model`) is the model used when nothing else names one.

use std::collections::BTreeMap;

use crate::{Endpoint, ErrorKind, LlmError, Model, Settings, Wire};

/// The variable naming the server's default model.
pub const DEFAULT_MODEL_VAR: &str = "ANDIBASE_DEFAULT_MODEL";
const PROVIDERS_VAR: &str = "ANDIBASE_MODEL_PROVIDERS";
const HOW_TO_CONFIGURE: &str = "Configure one with ANDIBASE_DEFAULT_MODEL=provider/model and the provider's \
     variables (OPENAI_API_KEY and OPENAI_BASE_URL, ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL, or \
     ANDIBASE_MODEL_PROVIDERS=name=url for an OpenAI-compatible server such as Ollama), or give the \
     agent or memory space a model credential of its own.";

/// The providers the operator configured, by name, and the default model.
#[derive(Clone, Debug, Default)]
pub struct Providers {
    named: BTreeMap<String, Endpoint>,
    default_model: Option<String>,
    pub settings: Settings,
}

impl Providers {
    /// From the process environment.
    pub fn from_env() -> Result<Providers, String> {
        Providers::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// From variables `lookup` finds; an error names a malformed one.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Providers, String> {
        let mut named = BTreeMap::new();
        for (name, wire, default_base) in [
            ("openai", Wire::OpenAi, "https://api.openai.com/v1"),
            ("anthropic", Wire::Anthropic, "https://api.anthropic.com"),
        ] {
            let upper = name.to_uppercase();
            let key = lookup(&format!("{upper}_API_KEY"));
            let base = lookup(&format!("{upper}_BASE_URL"));
            if key.is_some() || base.is_some() {
                named.insert(
                    name.to_string(),
                    Endpoint {
                        wire,
                        base_url: base
                            .unwrap_or_else(|| default_base.to_string())
                            .trim_end_matches('/')
                            .to_string(),
                        api_key: key,
                        guard: None,
                    },
                );
            }
        }
        for entry in lookup(PROVIDERS_VAR)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (name, target) = entry
                .split_once('=')
                .ok_or_else(|| format!("{PROVIDERS_VAR}: `{entry}` is not name=url"))?;
            let name = name.trim().to_lowercase();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "{PROVIDERS_VAR}: `{name}` is not a provider name (letters, digits, - and _)"
                ));
            }
            let (wire, url) = match target.trim().strip_prefix("anthropic:") {
                Some(url) => (Wire::Anthropic, url),
                None => (Wire::OpenAi, target.trim()),
            };
            andibase_outbound::check_url_shape(url)
                .map_err(|e| format!("{PROVIDERS_VAR}: {name}'s URL {e}"))?;
            let key_var = format!("{}_API_KEY", name.to_uppercase().replace('-', "_"));
            named.insert(
                name,
                Endpoint {
                    wire,
                    base_url: url.trim_end_matches('/').to_string(),
                    api_key: lookup(&key_var),
                    guard: None,
                },
            );
        }
        let default_model = lookup(DEFAULT_MODEL_VAR);
        let providers = Providers {
            named,
            default_model,
            settings: Settings::default(),
        };
        if let Some(m) = &providers.default_model {
            providers
                .resolve(m)
                .map_err(|e| format!("{DEFAULT_MODEL_VAR}: {e}"))?;
        }
        Ok(providers)
    }

    /// The provider names configured.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.named.keys().map(String::as_str)
    }

    /// The default model's string, if one is configured.
    pub fn default_model_name(&self) -> Option<&str> {
        self.default_model.as_deref()
    }

    /// A `provider/model` string as a model to call.
    pub fn resolve(&self, model: &str) -> Result<Model, LlmError> {
        let (provider, name) = model
            .split_once('/')
            .filter(|(p, n)| !p.is_empty() && !n.is_empty())
            .ok_or_else(|| {
                LlmError::new(
                    ErrorKind::NotConfigured,
                    format!("`{model}` is not a model string of the form provider/model"),
                )
            })?;
        let endpoint = self.named.get(provider).ok_or_else(|| {
            let known: Vec<&str> = self.names().collect();
            LlmError::new(
                ErrorKind::NotConfigured,
                format!(
                    "no model provider named `{provider}` is configured (configured: {}). {HOW_TO_CONFIGURE}",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            )
        })?;
        let mut m = Model::new(endpoint.clone(), name);
        m.settings = self.settings;
        Ok(m)
    }

    /// The server's default model.
    pub fn default_model(&self) -> Result<Model, LlmError> {
        match &self.default_model {
            Some(m) => self.resolve(m),
            None => Err(LlmError::new(
                ErrorKind::NotConfigured,
                format!("no model is configured. {HOW_TO_CONFIGURE}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Providers, String> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Providers::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn providers_come_from_the_usual_variables() {
        let p = from(&[
            ("OPENAI_API_KEY", "sk-1"),
            ("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/"),
            (
                "ANDIBASE_MODEL_PROVIDERS",
                "ollama=http://127.0.0.1:11434/v1, kimi=anthropic:https://k.example/api",
            ),
            ("KIMI_API_KEY", "k-2"),
            ("ANDIBASE_DEFAULT_MODEL", "ollama/qwen3:8b"),
        ])
        .unwrap();
        assert_eq!(
            p.names().collect::<Vec<_>>(),
            ["anthropic", "kimi", "ollama", "openai"]
        );
        let openai = p.resolve("openai/gpt-5.4").unwrap();
        assert_eq!(openai.endpoint.base_url, "https://api.openai.com/v1");
        assert_eq!(openai.endpoint.api_key.as_deref(), Some("sk-1"));
        let anthropic = p.resolve("anthropic/claude-x").unwrap();
        assert_eq!(anthropic.endpoint.base_url, "http://127.0.0.1:9");
        assert_eq!(anthropic.endpoint.wire, Wire::Anthropic);
        let kimi = p.resolve("kimi/k2").unwrap();
        assert_eq!(
            (kimi.endpoint.wire, kimi.endpoint.api_key.as_deref()),
            (Wire::Anthropic, Some("k-2"))
        );
        let default = p.default_model().unwrap();
        assert_eq!(
            (default.name.as_str(), default.endpoint.api_key.is_none()),
            ("qwen3:8b", true)
        );
        // A model name may hold slashes of its own.
        assert_eq!(
            p.resolve("ollama/library/llama3").unwrap().name,
            "library/llama3"
        );
    }

    #[test]
    fn what_is_missing_or_malformed_is_said() {
        let none = from(&[]).unwrap();
        let e = none.default_model().unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotConfigured);
        assert!(e.message.contains("ANDIBASE_DEFAULT_MODEL"), "{e}");
        let e = none.resolve("openai/gpt").unwrap_err();
        assert!(
            e.message.contains("no model provider named `openai`"),
            "{e}"
        );
        assert!(none.resolve("gpt").is_err());
        assert!(from(&[("ANDIBASE_DEFAULT_MODEL", "nope/x")])
            .unwrap_err()
            .contains("ANDIBASE_DEFAULT_MODEL"));
        assert!(from(&[("ANDIBASE_MODEL_PROVIDERS", "x")]).is_err());
        assert!(from(&[("ANDIBASE_MODEL_PROVIDERS", "x=ftp://a")]).is_err());
        assert!(from(&[("ANDIBASE_MODEL_PROVIDERS", "a b=http://a")]).is_err());
    }
}
