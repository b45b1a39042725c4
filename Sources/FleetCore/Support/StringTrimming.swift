extension StringProtocol {
    /// Without leading and trailing spaces, tabs and line breaks.
    public var trimmedSpaces: String {
        trimming { $0 == " " || $0 == "\t" || $0.isNewline }
    }

    /// Without leading and trailing characters for which `isTrimmed` holds.
    public func trimming(_ isTrimmed: (Character) -> Bool) -> String {
        String(drop(while: isTrimmed).reversed().drop(while: isTrimmed).reversed())
    }
}
