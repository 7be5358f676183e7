/// The `PhoneNumber` filter of an IncomingPhoneNumbers list: partial numbers, `*` for any one digit.
struct PhoneNumberPattern {
    let characters: [Character]

    init(_ text: String) {
        characters = Array(text)
    }

    /// True when the pattern occurs anywhere in `number` (`*` matching any one character).
    func matches(_ number: String) -> Bool {
        let target = Array(number)
        guard characters.count <= target.count else { return false }
        return (0...(target.count - characters.count)).contains { offset in
            characters.indices.allSatisfy { characters[$0] == "*" || characters[$0] == target[offset + $0] }
        }
    }
}
