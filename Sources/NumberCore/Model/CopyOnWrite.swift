/// A value kept in one shared heap allocation until a copy of it changes (copy-on-write): the state's tables, the
/// events and the service's copies of the state then hold one reference per record instead of the whole record.
/// `Equatable`, `Hashable` and `Codable` are those of the value (encoded as the value itself, no wrapper).
struct CopyOnWrite<Value: Sendable>: @unchecked Sendable {
    // Sendable: the box is only mutated through `value`'s setter, after `isKnownUniquelyReferenced` made it this
    // copy's own; shared boxes are only read.
    private final class Box {
        var value: Value

        init(_ value: Value) {
            self.value = value
        }
    }

    private var box: Box

    init(_ value: Value) {
        box = Box(value)
    }

    var value: Value {
        // Yields the boxed value in place: reading one field does not copy (and retain) every other one.
        _read { yield box.value }
        _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.value) }
            yield &box.value
        }
    }

    /// Whether both copies still share one allocation (then they are equal without comparing).
    func sharesStorage(with other: Self) -> Bool { box === other.box }
}

extension CopyOnWrite: Equatable where Value: Equatable {
    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.sharesStorage(with: rhs) || lhs.value == rhs.value
    }
}

extension CopyOnWrite: Hashable where Value: Hashable {
    func hash(into hasher: inout Hasher) {
        hasher.combine(value)
    }
}

extension CopyOnWrite: Codable where Value: Codable {
    init(from decoder: any Decoder) throws {
        self.init(try Value(from: decoder))
    }

    func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
    }
}
