package sendq

import "github.com/govent/govent/wire"

// Class is a message's send priority. Higher values are more important: they
// are sent first and are the last to be dropped.
type Class uint8

// The classes, least important first, in the 0.6 draft's drop order (section
// 3.1: Ping, Query, Pong, QueryHit, Push).
const (
	ClassPing Class = iota
	ClassQuery
	ClassPong
	ClassQueryHit
	ClassPush
	// ClassControl holds the messages that belong to the link itself rather
	// than to the network: Bye, QRP, vendor messages, HSEP and any other type
	// we chose to send. They are never broadcast, they are small and rare,
	// and losing one breaks the link's state (a leaf whose QRP table never
	// arrives gets no queries; a lost Messages-Supported hides features), so
	// they go first and are never evicted.
	ClassControl

	// NumClasses is the number of classes, for arrays indexed by Class.
	NumClasses = int(ClassControl) + 1
)

var classNames = [NumClasses]string{"ping", "query", "pong", "queryhit", "push", "control"}

// String names the class as metrics label it.
func (c Class) String() string {
	if int(c) < NumClasses {
		return classNames[c]
	}
	return "class?"
}

// ClassOf maps a payload type to its class. Types the router never forwards
// (Bye, QRP, vendor, HSEP, unknown) only reach a queue because we chose to
// send them, so they are control.
func ClassOf(t wire.PayloadType) Class {
	switch t {
	case wire.TypePing:
		return ClassPing
	case wire.TypeQuery:
		return ClassQuery
	case wire.TypePong:
		return ClassPong
	case wire.TypeQueryHit:
		return ClassQueryHit
	case wire.TypePush:
		return ClassPush
	default:
		return ClassControl
	}
}

// DropReason says why a message was not sent.
type DropReason uint8

// Drop reasons, indexes into ClassStats.Dropped.
const (
	// DropFlowControl: a Ping or Query that is not our own, refused because
	// the queue is in flow control.
	DropFlowControl DropReason = iota
	// DropEvicted: a queued message removed to make room for a more
	// important one.
	DropEvicted
	// DropFull: a new message for which there was no room even after
	// evicting everything less important.
	DropFull
	// DropClosed: refused by a closed queue, or discarded when a Bye or
	// Close cleared the queue.
	DropClosed
	// DropTooLarge: a message larger than the whole queue.
	DropTooLarge

	// NumDropReasons is the number of reasons, for arrays indexed by them.
	NumDropReasons = int(DropTooLarge) + 1
)

var reasonNames = [NumDropReasons]string{"flow_control", "evicted", "full", "closed", "too_large"}

// String names the reason as metrics label it.
func (r DropReason) String() string {
	if int(r) < NumDropReasons {
		return reasonNames[r]
	}
	return "reason?"
}
