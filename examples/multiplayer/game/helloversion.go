package game

// HelloVersion returns the protocol version a Hello payload announces,
// without decoding the rest, so that a server can refuse a client of
// another version with a Reject that says so even when that version's
// Hello is laid out differently or its version does not fit in Hello's
// uint16 field. It fails (with a *DecodeError matching ErrMalformed) on a
// payload that is not a Hello or whose version is not a minimally encoded
// uvarint.
func HelloVersion(payload []byte) (uint64, error) {
	t, err := PeekType(payload)
	if err != nil {
		return 0, err
	}
	if t != MsgHello {
		return 0, &DecodeError{Type: t, Field: "type", Err: errNotHello}
	}
	r := reader{typ: t, b: payload[1:]}
	v := r.rawUvarint("version")
	if r.err != nil {
		return 0, r.err
	}
	return v, nil
}
