import ArgumentParser
import Foundation

/// The `--json-report` file, made ready before a run sets anything up: a path that cannot be written (its directory
/// missing) was found only after the run, whose figures were then lost, and its accounts made and cleaned up for
/// nothing.
enum ReportFile {
    /// Creates `path`, or empties the file there, so that a run that ends without a report leaves none of an earlier
    /// run looking like its own; a usage error (exit 64) when it cannot.
    static func prepare(_ path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw ValidationError("--json-report \(path) cannot be written (\(reason)): its directory must exist")
        }
        close(fd)
    }
}
