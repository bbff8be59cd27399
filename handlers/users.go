package handlers

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/schema"
)

// listUsers is GET /user: every active user as a bare JSON array, the shape
// of Amundsen's UserSchema().dump(users, many=True). Amundsen answers 404
// when there are none; an empty list is 200 [] here.
func (s *server) listUsers(c *gin.Context) {
	users, err := s.store.GetUsers(c.Request.Context())
	if err != nil {
		respondError(c, s.log, err)
		return
	}
	if users == nil {
		users = []schema.User{}
	}
	c.JSON(http.StatusOK, users)
}

// putUser is PUT /user: create (201) or update (200) from a UserSchema body.
// Unlike Amundsen, which double-encoded it as a string, the body of the
// answer is the stored user as a JSON object.
func (s *server) putUser(c *gin.Context) {
	fields, err := readJSONObject(c)
	if err != nil {
		respondError(c, s.log, err)
		return
	}
	if fields == nil {
		abortJSON(c, http.StatusBadRequest, MsgNoUserInformation)
		return
	}
	u, err := s.decoder.DecodeUser(fields)
	if err != nil {
		respondError(c, s.log, err)
		return
	}
	// A write by a login or other alias updates the person's node, never a
	// second one beside it (DESIGN §3).
	key, err := s.users.ReadKey(c.Request.Context(), u.Key())
	if err != nil {
		respondError(c, s.log, err)
		return
	}
	u.NodeKey = key
	if !s.mayWrite(c, u.Key()) {
		return
	}
	stored, created, err := s.store.CreateUpdateUser(c.Request.Context(), u)
	if err != nil {
		s.audit(c, "user_write", u.Key(), schema.KindOf(err).String())
		respondError(c, s.log, err)
		return
	}
	status, event := http.StatusOK, "user_updated"
	if created {
		status, event = http.StatusCreated, "user_created"
	}
	s.obs.UserWritten("api", created)
	s.audit(c, event, u.Key(), "ok")
	s.writeUser(c, status, stored)
}

// getUser is GET /user/<id>: the graph, else the directory.
func (s *server) getUser(c *gin.Context, req userRequest) {
	u, err := s.users.ResolveUser(c.Request.Context(), schema.UserKey(req.id))
	if schema.IsNotFound(err) {
		abortJSON(c, http.StatusNotFound, "user_id "+req.id+" not found")
		return
	}
	if err != nil {
		respondError(c, s.log, err)
		return
	}
	s.writeUser(c, http.StatusOK, u)
}

// jsonUTF8 is the Content-Type of user answers, one slice for all of them
// (net/http never modifies header values).
var jsonUTF8 = []string{"application/json; charset=utf-8"}

// writeUser answers with u's JSON directly: going through c.JSON would make
// encoding/json re-scan the bytes User.MarshalJSON already produced, and
// c.Data allocates the Content-Type value on every call. The JSON is
// encoded into a pooled buffer: Write copies it out before returning.
func (s *server) writeUser(c *gin.Context, status int, u schema.User) {
	bp, _ := s.bodies.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	body := u.AppendJSON((*bp)[:0])
	c.Writer.Header()["Content-Type"] = jsonUTF8
	c.Status(status)
	_, _ = c.Writer.Write(body)
	if cap(body) <= maxPooledBody { // one large user must not pin a large buffer
		*bp = body
		s.bodies.Put(bp)
	}
}

// maxPooledBody bounds the buffers writeUser keeps.
const maxPooledBody = 16 << 10

func (s *server) getResources(c *gin.Context, req userRequest) {
	key, ok := s.readKey(c, req.id)
	if !ok {
		return
	}
	res, err := s.store.GetUserResources(c.Request.Context(), key, req.rel)
	if err != nil {
		respondError(c, s.log, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (s *server) getReads(c *gin.Context, req userRequest) {
	key, ok := s.readKey(c, req.id)
	if !ok {
		return
	}
	tables, err := s.store.GetFrequentlyUsedTables(c.Request.Context(), key)
	if err != nil {
		respondError(c, s.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"table": tables})
}

// writeRelation is PUT and DELETE /user/<id>/{follow,own}/<type>/<key>.
func (s *server) writeRelation(c *gin.Context, req userRequest) {
	t, err := schema.ParseResourceType(req.resource)
	if err != nil {
		respondError(c, s.log, err)
		return
	}
	if err := schema.CheckID("resource key", req.key); err != nil {
		respondError(c, s.log, err)
		return
	}
	ctx := c.Request.Context()
	// Only valid writes get here: a write by a login or other alias lands on
	// the person's node, which an add resolves from the directory first.
	nodeKey := s.users.ReadKey
	if c.Request.Method == http.MethodPut {
		nodeKey = s.users.NodeKey
	}
	userKey, err := nodeKey(ctx, schema.UserKey(req.id))
	if err != nil {
		respondError(c, s.log, err)
		return
	}
	if !s.mayWrite(c, userKey) {
		return
	}
	verb := "added"
	if c.Request.Method == http.MethodDelete {
		verb = "deleted"
		err = s.store.DeleteResourceRelation(ctx, userKey, req.rel, t, req.key)
	} else {
		err = s.store.AddResourceRelation(ctx, userKey, req.rel, t, req.key)
	}
	outcome := "ok"
	if err != nil {
		outcome = schema.KindOf(err).String()
	}
	s.audit(c, string(req.rel)+"_"+verb, userKey, outcome,
		slog.String("resource_type", string(t)), slog.String("resource_key", req.key))
	if err != nil {
		respondError(c, s.log, err)
		return
	}
	c.JSON(http.StatusOK, message{Message: relationMessage(req, c.Request.Method == http.MethodDelete)})
}

// relationMessage is Amundsen's success text for a follow or own write
// (metadata_service/api/user.py: UserFollowAPI.put lines 154-157 and
// delete 179-182, UserOwnAPI.put 258-260 and delete 271-273), filled with
// the id, type and key as the caller sent them.
func relationMessage(req userRequest, deleted bool) string {
	switch {
	case req.rel == schema.Own && deleted:
		return "The owner " + req.id + " for table_uri " + req.key + " is deleted successfully"
	case req.rel == schema.Own:
		return "The owner " + req.id + " for table_uri " + req.key + " is added successfully"
	case deleted:
		return "The user following " + req.id + " for id " + req.key + " resource type " + req.resource + " is deleted successfully"
	default:
		return "The user " + req.id + " for id " + req.key + " resource type " + req.resource + " is added successfully"
	}
}

// readKey is the key of the node a read by id looks at: a login or other
// alias reads the person's own node. false: the error is answered.
func (s *server) readKey(c *gin.Context, id string) (string, bool) {
	key, err := s.users.ReadKey(c.Request.Context(), schema.UserKey(id))
	if err != nil {
		respondError(c, s.log, err)
		return "", false
	}
	return key, true
}
