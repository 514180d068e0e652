package gameserver

import (
	"strings"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/secure/precis"

	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// The name policy. A player's name is shown to everybody, so a name must
// not pass for another player's or for nothing at all. The Unicode work is
// done by libraries, never by tables of our own:
//
//   - the wire rule (game.ValidateName: 1..16 bytes of printable UTF-8, no
//     space at either end);
//   - the Nickname profile of PRECIS (RFC 8266, golang.org/x/text/secure/
//     precis): Unicode normalisation (NFKC), space normalisation, and no
//     control, default-ignorable (the Hangul fillers, zero-width spaces) or
//     unassigned code point;
//   - each space-separated word a valid identifier by the PRECIS
//     IdentifierClass (the UsernameCasePreserved profile of RFC 8265):
//     letters and digits of any script, combining marks after them, ASCII
//     punctuation and symbols; so no symbol that draws as a blank (U+2800
//     BRAILLE PATTERN BLANK), no word that starts with a combining mark,
//     no mix of writing directions that would reorder the name;
//   - no two players whose names are confusable: the comparison key is the
//     Unicode TR39 skeleton (github.com/mtibben/confusables, from Unicode's
//     confusables.txt), case folded (golang.org/x/text/cases) and
//     skeletonised again, so that "BOT03", "bot03", "b0t03" and "bоt03"
//     (Cyrillic о) are one name.

// nameKey returns the comparison key of a name that passed checkName.
func nameKey(enforced string) string {
	return confusables.Skeleton(cases.Fold().String(confusables.Skeleton(enforced)))
}

// checkName applies the policy to a name as received and returns the
// reason to refuse it, or "" and the name's comparison key.
func checkName(name string) (reason, key string) {
	if err := game.ValidateName(name); err != nil {
		return "bad name: " + strings.TrimPrefix(err.Error(), game.ErrBadName.Error()+": "), ""
	}
	enforced, err := precis.Nickname.String(name)
	if err != nil {
		return "bad name: invisible, control or unassigned characters", ""
	}
	for _, word := range strings.Split(enforced, " ") {
		if _, err := precis.UsernameCasePreserved.String(word); err != nil {
			return "bad name: letters, digits, ASCII punctuation and single spaces only", ""
		}
	}
	return "", nameKey(enforced)
}
