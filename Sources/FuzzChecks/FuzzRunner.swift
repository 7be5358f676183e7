#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the fuzz executables call: the libFuzzer entry point's body and, in a normal build, a replay tool.
public enum FuzzRunner {
    /// Runs `target`'s check on libFuzzer's input; aborts on a broken property so libFuzzer saves the input.
    public static func runOne(_ target: FuzzTarget, _ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        do {
            try target.check(input)
        } catch {
            writeStandardError("\(target.rawValue): \(error)\n")
            abort()
        }
        return 0
    }

    /// Replays the files named on the command line through `target`'s check; exit status 1 if any fails.
    public static func replayMain(_ target: FuzzTarget) -> Never {
        let paths = CommandLine.arguments.dropFirst()
        if paths.first == "--write-seeds", paths.count == 2 {
            writeSeeds(target, directory: paths.last!)
        }
        guard !paths.isEmpty else {
            writeStandardError("usage: \(target.rawValue) FILE... | --write-seeds DIR\n")
            exit(2)
        }
        var failures = 0
        for path in paths {
            do {
                try target.check(try readFile(path))
                print("ok    \(path)")
            } catch {
                print("FAIL  \(path): \(error)")
                failures += 1
            }
        }
        exit(failures == 0 ? 0 : 1)
    }

    /// Writes `target`'s seeds as `DIR/<name>` and exits.
    static func writeSeeds(_ target: FuzzTarget, directory: String) -> Never {
        for seed in FuzzSeeds.seeds(for: target) {
            let path = directory + "/" + seed.name
            guard let file = fopen(path, "wb"),
                fwrite(seed.bytes, 1, seed.bytes.count, file) == seed.bytes.count, fclose(file) == 0
            else {
                writeStandardError("cannot write \(path)\n")
                exit(1)
            }
            print("wrote \(path) (\(seed.bytes.count) bytes)")
        }
        exit(0)
    }

    /// Writes `text` to standard error (unbuffered, so it is out before an abort).
    static func writeStandardError(_ text: String) {
        var text = text
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }

    /// The bytes of the file at `path`.
    public static func readFile(_ path: String) throws(FuzzCheckFailure) -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw FuzzCheckFailure("replay", "cannot open \(path)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        guard ferror(file) == 0 else { throw FuzzCheckFailure("replay", "cannot read \(path)") }
        return bytes
    }
}
