//! Where the remote tier is and how to reach it: the `s3://bucket/prefix` URL, and the
//! credentials, region and endpoint from the standard AWS variables (as `object_store` reads
//! them) and, for what they leave unset, from the AWS config files.
//!
//! For: turning a user's setting into a configured S3 client builder. Not for: talking to it.

use std::collections::HashMap;
use std::path::PathBuf;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjPath;

/// A parsed `s3://bucket/prefix` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteUrl {
    pub bucket: String,
    /// Objects live under this prefix (may be empty).
    pub prefix: ObjPath,
}

impl RemoteUrl {
    pub fn parse(url: &str) -> Result<RemoteUrl, String> {
        let bad = |why: &str| format!("remote store {url:?}: {why} (expected s3://bucket/prefix)");
        let rest = url
            .trim()
            .strip_prefix("s3://")
            .ok_or_else(|| bad("only s3:// URLs are supported"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(bad(
                "the bucket name must be 3 to 63 lowercase letters, digits, '-' or '.'",
            ));
        }
        let prefix = prefix.trim_matches('/');
        let prefix = ObjPath::parse(prefix).map_err(|e| bad(&format!("bad prefix: {e}")))?;
        Ok(RemoteUrl {
            bucket: bucket.to_string(),
            prefix,
        })
    }
}

/// An S3 client builder for `url`: `AWS_*` variables first (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
/// `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, …), then the profile `AWS_PROFILE` (else `default`) of
/// `AWS_SHARED_CREDENTIALS_FILE` (else `~/.aws/credentials`) and `AWS_CONFIG_FILE` (else
/// `~/.aws/config`) for what the variables leave unset.
pub fn builder(url: &RemoteUrl) -> AmazonS3Builder {
    let mut b = AmazonS3Builder::from_env().with_bucket_name(&url.bucket);
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let mut values = HashMap::new();
    // The config file first: the credentials file wins where both say something.
    for (path, section) in [
        (file("AWS_CONFIG_FILE", "config"), config_section(&profile)),
        (file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), profile.clone()),
    ] {
        if let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) {
            values.extend(ini_section(&text, &section));
        }
    }
    for (name, key) in [
        ("aws_access_key_id", AmazonS3ConfigKey::AccessKeyId),
        ("aws_secret_access_key", AmazonS3ConfigKey::SecretAccessKey),
        ("aws_session_token", AmazonS3ConfigKey::Token),
        ("region", AmazonS3ConfigKey::Region),
        ("endpoint_url", AmazonS3ConfigKey::Endpoint),
    ] {
        let unset = b.get_config_value(&key).is_none()
            && !(key == AmazonS3ConfigKey::Region && b.get_config_value(&AmazonS3ConfigKey::DefaultRegion).is_some());
        if let (true, Some(v)) = (unset, values.get(name)) {
            b = b.with_config(key, v.clone());
        }
    }
    b
}

/// The config file names a profile `[profile NAME]`, except `[default]`.
fn config_section(profile: &str) -> String {
    if profile == "default" {
        profile.to_string()
    } else {
        format!("profile {profile}")
    }
}

/// The `key = value` lines of section `[name]` of an INI text (keys lowercased; comments and
/// nested blocks ignored).
fn ini_section(text: &str, name: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(h) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = h.trim() == name;
            continue;
        }
        if let (true, Some((k, v))) = (inside, line.split_once('=')) {
            let v = v.trim();
            if !v.is_empty() {
                out.insert(k.trim().to_ascii_lowercase(), v.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        let u = RemoteUrl::parse("s3://frames/render/a/").unwrap();
        assert_eq!(u.bucket, "frames");
        assert_eq!(u.prefix.as_ref(), "render/a");
        assert_eq!(RemoteUrl::parse("s3://frames").unwrap().prefix.as_ref(), "");
        for bad in [
            "http://x/y",
            "s3://",
            "s3://UPPER/x",
            "s3://ab",
            "s3://frames/a/../b",
            "frames",
        ] {
            assert!(RemoteUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn profile_sections_are_read_from_ini_text() {
        let text = "[default]\naws_access_key_id = AK\n# c\n[profile fleet]\nregion=eu-west-1\nendpoint_url = http://127.0.0.1:9000\n[other]\nregion = x\n";
        assert_eq!(ini_section(text, "default").get("aws_access_key_id").unwrap(), "AK");
        let fleet = ini_section(text, &config_section("fleet"));
        assert_eq!(fleet.get("region").unwrap(), "eu-west-1");
        assert_eq!(fleet.get("endpoint_url").unwrap(), "http://127.0.0.1:9000");
        assert_eq!(fleet.len(), 2);
    }
}
