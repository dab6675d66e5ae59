//! "Did you mean" suggestions for misspelt keys, kinds and references.

/// The candidate closest to `input`, when it is close enough to be a plausible typo.
pub fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let input_lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let score = strsim::jaro_winkler(&input_lower, &candidate.to_ascii_lowercase());
            (candidate, score)
        })
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(candidate, _)| candidate)
}

/// `; did you mean `x`?` or nothing.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(input, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_spelling() {
        let kinds = ["rolling", "blue-green", "canary", "recreate"];
        assert_eq!(closest("blue-gren", kinds), Some("blue-green"));
        assert_eq!(closest("canery", kinds), Some("canary"));
    }

    #[test]
    fn stays_quiet_for_unrelated_words() {
        assert_eq!(closest("kubernetes", ["docker", "ecs"]), None);
    }
}
