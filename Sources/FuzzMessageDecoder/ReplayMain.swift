// A fuzzer build (-DFUZZING) takes main() from libFuzzer; a normal build is a replay tool over files.
#if !FUZZING
import FuzzChecks

/// `FuzzMessageDecoder FILE...` replays inputs through the check; `FuzzMessageDecoder --write-seeds DIR` writes the seed corpus.
@main
enum Replay {
    static func main() { FuzzRunner.replayMain(.messageDecoder) }
}
#endif
