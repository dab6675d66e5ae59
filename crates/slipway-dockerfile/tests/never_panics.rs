//! The parser and the shell splitter take any text without panicking, and what parses keeps
//! positions inside the text.

use proptest::prelude::*;

proptest! {
    #[test]
    fn a_dockerfile_of_any_text_parses_or_is_refused_with_a_position(
        text in "((FROM|RUN|COPY|ONBUILD|ARG|# escape=`|#) ?[ -~]{0,30}(\\\\|<<EOF|\\[\"a\"\\])?\n){0,12}"
    ) {
        let lines = text.lines().count().max(1);
        match slipway_dockerfile::parse(&text) {
            Ok(parsed) => {
                for instruction in &parsed.instructions {
                    prop_assert!(instruction.line >= 1 && instruction.line <= instruction.end_line);
                    prop_assert!(instruction.end_line <= lines + 1);
                }
            }
            Err(error) => prop_assert!(error.line >= 1 && error.line <= lines + 1),
        }
    }

    #[test]
    fn a_script_of_any_text_splits(script in "\\PC{0,200}") {
        for command in slipway_dockerfile::shell::commands(&script) {
            let _ = command.name();
        }
    }
}
