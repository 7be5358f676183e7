// A fuzzer build (-DFUZZING) takes main() from libFuzzer; a normal build is a replay tool over files.
#if !FUZZING
import FuzzChecks

/// `FuzzSnapshot FILE...` replays inputs through the check; `FuzzSnapshot --write-seeds DIR` writes the seed corpus.
@main
enum Replay {
    static func main() { FuzzRunner.replayMain(.snapshot) }
}
#endif
