package twiliotest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// checkCreate is Twilio's validation of a Messages create: its error code
// and message for the first fault, 0 for none.
func (s *Server) checkCreate(f url.Values) (code int, msg string) {
	to, from, svc := f.Get("To"), f.Get("From"), f.Get("MessagingServiceSid")
	body, content := f.Get("Body"), f.Get("ContentSid")
	wa := strings.HasPrefix(to, "whatsapp:")
	number := strings.TrimPrefix(to, "whatsapp:")
	switch {
	case to == "":
		return 21604, "A 'To' phone number is required."
	case from == "" && svc == "":
		return 21603, "A 'From' phone number is required."
	case body == "" && content == "" && f.Get("MediaUrl") == "":
		return 21602, "Message body is required."
	case len([]rune(body)) > 1600:
		return 21617, "The concatenated message body exceeds the 1600 character limit."
	case !e164.MatchString(number):
		return 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", to)
	case from != "" && len(s.opt.Numbers) > 0 && !slices.Contains(s.opt.Numbers, from):
		return 21606, fmt.Sprintf("The From phone number %s is not a valid, SMS-capable inbound phone number or short code for your account.", from)
	case wa && from != "" && !strings.HasPrefix(from, "whatsapp:"):
		return 21910, "Invalid From and To pair. From and To should be of the same channel"
	case content != "" && !strings.HasPrefix(content, "HX"):
		return 21656, "The ContentSid is Invalid."
	}
	if v := f.Get("ContentVariables"); v != "" {
		var m map[string]string
		if json.Unmarshal([]byte(v), &m) != nil {
			return 21658, "The ContentVariables Parameter is invalid."
		}
	}
	if cb := f.Get("StatusCallback"); cb != "" {
		if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return 21609, "Invalid StatusCallback URL"
		}
	}
	return 0, ""
}

func createErrorText(code int, to string) string {
	switch code {
	case 21211:
		return fmt.Sprintf("The 'To' number %s is not a valid phone number.", to)
	case 21610:
		return "Attempt to send to unsubscribed recipient"
	case 21614:
		return fmt.Sprintf("'To' number %s is not a valid mobile number", to)
	case 21612:
		return "The 'To' phone number is not currently reachable using the 'From' phone number via SMS."
	case 63024:
		return "Invalid message recipient"
	}
	return fmt.Sprintf("Error %d", code)
}
