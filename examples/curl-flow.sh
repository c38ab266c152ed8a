#!/usr/bin/env bash
# The whole flow with curl and jq: a server, a key, an agent, a widget, a session as your backend
# makes it, what the browser does with it (config, a message, the transcript, a call's
# signaling), then conversations and usage. VOXGATE, DATA and PORT may point elsewhere (by
# default a fresh data dir and port 8181, apart from the demo's ./data and 8080); OFFER is an SDP
# offer file from a WebRTC stack (without one the call step is skipped).
set -euo pipefail
VOXGATE=${VOXGATE:-./target/release/voxgate}
DATA=${DATA:-$(mktemp -d)}
PORT=${PORT:-8181}
API=http://127.0.0.1:$PORT
SITE=https://shop.example.com

# A server, and a workspace key for it (printed once; only its SHA-256 is stored).
"$VOXGATE" serve --http "127.0.0.1:$PORT" --data-dir "$DATA" &
SERVER=$!
trap 'kill $SERVER' EXIT
until curl -sf "$API/healthz" >/dev/null; do sleep 0.1; done
KEY=$("$VOXGATE" keys create --init --data-dir "$DATA" --workspace acme)

# An agent that answers from its knowledge, and a widget that allows your site's origin.
AGENT=$(curl -sf "$API/v1/agents" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d '{"name": "Support", "greeting": "Hi! How can I help?",
       "knowledge": [{"title": "Hours", "text": "We are open 9 to 5, Monday to Friday."}]}' | jq -r .id)
WIDGET=$(curl -sf "$API/v1/widgets" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d "{\"name\": \"Shop\", \"agent_id\": \"$AGENT\", \"environment\": \"production\",
       \"allowed_origins\": [\"$SITE\"]}" | jq -r .id)

# Your backend: a session for a visitor. The browser gets these values and nothing else.
VALUES=$(curl -sf "$API/v1/widgets/$WIDGET/sessions" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -d '{"metadata": {"customer": "c-42"}}')
SESSION=$(jq -r .session_id <<<"$VALUES")
TOKEN=$(jq -r .session_token <<<"$VALUES")
MESSAGES_URL=$(jq -r .messages_url <<<"$VALUES")
WEBRTC_URL=$(jq -r .webrtc_url <<<"$VALUES")

# The browser: the widget's public config, a message answered over Server-Sent Events (a
# stream that drops resumes: GET with the last event id it got streams the rest of that
# answer), the transcript, and a refusal for an origin the widget does not allow.
curl -sf "$API/v1/widgets/$WIDGET/config" -H "Origin: $SITE" | jq -c '{version, modes}'
curl -sfN "$MESSAGES_URL" -H "Origin: $SITE" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"text": "When are you open?"}' | tee /tmp/voxgate-answer.sse
LAST_ID=$(sed -n 's/^id: //p' /tmp/voxgate-answer.sse | sed -n 2p)
curl -sfN "$MESSAGES_URL" -H "Origin: $SITE" -H "Authorization: Bearer $TOKEN" -H "Last-Event-ID: $LAST_ID" \
  | grep -c '^event: response' | sed 's/^/resumed after the 2nd event: /'
curl -sf "$MESSAGES_URL" -H "Origin: $SITE" -H "Authorization: Bearer $TOKEN" | jq -r '.messages[].text'
curl -s "$MESSAGES_URL" -H 'Origin: https://evil.test' -H "Authorization: Bearer $TOKEN" | jq -r .error.code

# A voice call's signaling (WHIP): the offer in, the answer and the call's Location out; DELETE
# on the Location hangs up.
if [ -n "${OFFER:-}" ]; then
  LOCATION=$(curl -sf -o /dev/null -D - "$WEBRTC_URL" -H "Origin: $SITE" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/sdp' --data-binary @"$OFFER" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  echo "call: $LOCATION"
  curl -sf -X DELETE "$LOCATION" -H "Origin: $SITE" -H "Authorization: Bearer $TOKEN" -o /dev/null -w 'hang-up: %{http_code}\n'
fi

# Your backend again: the session, a new token, every conversation with its transcript, usage,
# and ending the session.
curl -sf "$API/v1/sessions/$SESSION" -H "Authorization: Bearer $KEY" | jq -c '{status, origin, calls: (.calls | length)}'
curl -sf -X POST "$API/v1/sessions/$SESSION/refresh" -H "Authorization: Bearer $KEY" | jq -r .expires_at
CONVERSATION=$(curl -sf "$API/v1/conversations?widget_id=$WIDGET&limit=10" -H "Authorization: Bearer $KEY" \
  | jq -r '.conversations[0].id')
curl -sf "$API/v1/conversations/$CONVERSATION" -H "Authorization: Bearer $KEY" | jq -r '.transcript[] | "\(.role): \(.text)"'
curl -sf "$API/v1/usage" -H "Authorization: Bearer $KEY" | jq -c .usage.production
curl -sf -X DELETE "$API/v1/sessions/$SESSION" -H "Authorization: Bearer $KEY" | jq -r .end_reason
