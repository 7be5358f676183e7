import Foundation

/// How numberd looks at its backup directory on its disk: resolving the path's symbolic links and listing the names in
/// it. Either may block as long as that disk does (a hard-mounted NFS share whose server is down), so numberd calls
/// them only on the store's backup queue — at a backup, and once after the start for the last backup's time —, never
/// on the way of a start, a reload or a stop.
package struct BackupDirectoryProbe: Sendable {
    /// The path with its symbolic links resolved (``NumberdConfiguration/resolvedPath(_:)``).
    package var resolve: @Sendable (String) -> String
    /// The names in the folder; nil when it cannot be listed.
    package var list: @Sendable (String) -> [String]?

    /// A probe of these two.
    package init(resolve: @escaping @Sendable (String) -> String, list: @escaping @Sendable (String) -> [String]?) {
        self.resolve = resolve
        self.list = list
    }

    /// The file system's.
    package static let system = BackupDirectoryProbe(
        resolve: { NumberdConfiguration.resolvedPath($0) },
        list: { try? FileManager.default.contentsOfDirectory(atPath: $0) })
}
