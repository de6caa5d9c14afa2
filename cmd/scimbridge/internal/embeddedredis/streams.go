package embeddedredis

import (
	"strconv"
	"strings"
	"time"
)

// Stream ids, fixed before the XADD runs.
//
// An XADD that lets the server pick the id ("*", or "<ms>-*") is not
// replayable as it was sent: a replay would pick other ids, so cursors kept
// elsewhere (a webhook endpoint's position in the events stream) would no
// longer match. The hook therefore picks the id itself, the way Redis does
// (the current millisecond, or the last id's millisecond with the next
// sequence number), writes it into the command before miniredis runs it, and
// journals the command with that explicit id: replay then does exactly what
// the server did. It needs the stream's last id without asking miniredis
// (inside a script its lock is held), so it keeps them in streamLast, learnt
// from every id it gives and from every full snapshot of the live server. A stream it has no id
// for yet (the first XADD after a start) takes the old way: the server picks
// the id and the next flush writes a full snapshot, which teaches it the id.

// streamRef names a stream: its database and key.
type streamRef struct {
	db  int
	key string
}

// streamID is a stream entry id, <ms>-<seq>.
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, bool) {
	msPart, seqPart, found := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return streamID{}, false
	}
	var seq uint64
	if found {
		if seq, err = strconv.ParseUint(seqPart, 10, 64); err != nil {
			return streamID{}, false
		}
	}
	return streamID{ms, seq}, true
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.seq < o.seq)
}

// noteStreamLast records id as given to the stream if it is later than the
// one known. jmu held.
func (e *Server) noteStreamLast(db int, key, id string) {
	v, ok := parseStreamID(id)
	if !ok {
		return
	}
	if e.streamLast == nil {
		e.streamLast = make(map[streamRef]streamID)
	}
	ref := streamRef{db, key}
	if cur, known := e.streamLast[ref]; !known || cur.less(v) {
		e.streamLast[ref] = v
	}
}

// xaddIDIndex is the position in XADD's arguments (after the command name:
// key first) of the entry id, or -1 when they do not parse.
func xaddIDIndex(args []string) int {
	i := 1
	for i < len(args) {
		switch strings.ToUpper(args[i]) {
		case "NOMKSTREAM":
			i++
		case "MAXLEN", "MINID":
			i++
			if i < len(args) && (args[i] == "=" || args[i] == "~") {
				i++
			}
			i++ // the threshold
		case "LIMIT":
			i += 2
		default:
			return i
		}
	}
	return -1
}

// pinXAdd gives an XADD an explicit id (written into args, which miniredis
// then runs) and reports whether the command can now be journaled as it is.
// false: leave it to the server and write a full snapshot next. jmu held.
func (e *Server) pinXAdd(db int, args []string, now time.Time) bool {
	i := xaddIDIndex(args)
	if i < 0 || len(args) < 1 {
		return false
	}
	ref := streamRef{db, args[0]}
	last, known := e.streamLast[ref]
	want := args[i]
	var id streamID
	switch {
	case want == "*":
		if !known {
			return false
		}
		ms := uint64(now.UnixMilli())
		if ms > last.ms {
			id = streamID{ms, 0}
		} else {
			id = streamID{last.ms, last.seq + 1}
		}
	case strings.HasSuffix(want, "-*"):
		ms, err := strconv.ParseUint(strings.TrimSuffix(want, "-*"), 10, 64)
		if err != nil || !known || ms < last.ms {
			return false
		}
		if ms > last.ms {
			id = streamID{ms, 0}
		} else {
			id = streamID{ms, last.seq + 1}
		}
	default: // explicit: replayable as it is
		v, ok := parseStreamID(want)
		if !ok {
			return false
		}
		if !known || last.less(v) {
			e.noteStreamLast(db, args[0], want)
		}
		return true
	}
	args[i] = id.String()
	e.noteStreamLast(db, args[0], args[i])
	return true
}

// learnStreams records the last id of every stream in snap (read from the
// live server). jmu held.
func (e *Server) learnStreams(snap redisSnapshot) {
	for _, db := range snap.Databases {
		for _, k := range db.Keys {
			if n := len(k.Stream); n > 0 {
				e.noteStreamLast(db.DB, string(k.Key), k.Stream[n-1].ID)
			}
		}
	}
}
