import Foundation

/// The question a command asks before what it cannot take back (`release`, `funds adjust --debit`, `keys revoke`):
/// on stderr, since stdout carries only the result (JSON with `--json`), the answer read from stdin.
enum Question {
    /// Asks `question`, adding how to answer. Anything but `yes`, or end of input (a script that did not pass
    /// `--yes`), throws `refusal` and how to skip the question as a `CLIError`, exit 1: nothing was done. A signal
    /// while it waits prints `refusal` and exits at once (`InterruptionState`).
    static func confirm(_ question: String, refusal: String) throws {
        FileHandle.standardError.write(Data("\(question) Type 'yes' to go on: ".utf8))
        let answer = Interruption.shared.answer(refusal: refusal)
        // The question's line ends here when no terminal echoed the answer's newline (an answer piped in, or the end
        // of input): what follows on stderr — the refusal, `--json`'s error object — gets a line of its own.
        if answer == nil || isatty(STDIN_FILENO) == 0 { FileHandle.standardError.write(Data("\n".utf8)) }
        guard answer?.trimmingCharacters(in: .whitespaces).lowercased() == "yes" else {
            throw CLIError(code: 1, message: "\(refusal) (pass --yes to skip the question)")
        }
    }
}
