// HP-Socket's C++ HTTP classes, used as HP's examples use them:
// - a CHttpServerPtr on a CHttpServerListener subclass answering with SendResponse (curl is its
//   client; the test drives it while this program waits on stdin), IHttpServer::FromS(pSender)
//   in a socket callback;
// - a CHttpSyncClientPtr (OpenUrl), a CHttpAgentPtr and a CHttpClientPtr against the HTTP
//   server on 127.0.0.1:argv[1] (python's http.server: it echoes the request and sets a cookie).
// Prints one line per event; the test compares them.
#include <hpsocket/HPSocket.h>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <semaphore.h>
#include <string>
#include <time.h>

static std::mutex out_lock;
#define SAY(...)                                   \
    do {                                           \
        std::lock_guard<std::mutex> g(out_lock);   \
        printf(__VA_ARGS__);                       \
        fflush(stdout);                            \
    } while (0)

class CServerListener : public CHttpServerListener
{
public:
    std::string body;
    virtual EnHandleResult OnHandShake(ITcpServer* pSender, CONNID) override
    {
        IHttpServer* http = IHttpServer::FromS(pSender);
        SAY("server handshake version=%d\n", (int)http->GetLocalVersion());
        return HR_OK;
    }
    virtual EnHttpParseResult OnHeadersComplete(IHttpServer*, CONNID) override
    {
        body.clear();
        return HPR_OK;
    }
    virtual EnHttpParseResult OnBody(IHttpServer*, CONNID, const BYTE* pData, int iLength) override
    {
        body.append((const char*)pData, iLength);
        return HPR_OK;
    }
    virtual EnHttpParseResult OnMessageComplete(IHttpServer* pSender, CONNID dwConnID) override
    {
        LPCSTR test = nullptr;
        pSender->GetHeader(dwConnID, "X-Test", &test);
        char text[512];
        int n = snprintf(text, sizeof(text), "%s %s?%s x-test=%s body=%s", pSender->GetMethod(dwConnID),
                         pSender->GetUrlField(dwConnID, HUF_PATH), pSender->GetUrlField(dwConnID, HUF_QUERY),
                         test ? test : "-", body.c_str());
        THeader headers[] = {{"Content-Type", "text/plain"}};
        SAY("server %s\n", text);
        return pSender->SendResponse(dwConnID, HSC_OK, "OK", headers, 1, (const BYTE*)text, n) ? HPR_OK : HPR_ERROR;
    }
    virtual EnHttpParseResult OnParseError(IHttpServer*, CONNID, int iErrorCode, LPCSTR) override
    {
        SAY("server parse error %d\n", iErrorCode);
        return HPR_ERROR;
    }
    virtual EnHandleResult OnClose(ITcpServer*, CONNID, EnSocketOperation, int) override { return HR_OK; }
};

static sem_t done;

static void wait_done(const char* what)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += 10;
    if (sem_timedwait(&done, &t) != 0)
        SAY("%s timed out\n", what);
}

class CAgentListener : public CHttpAgentListener
{
public:
    std::string body;
    virtual EnHandleResult OnConnect(ITcpAgent* pSender, CONNID dwConnID) override
    {
        THeader headers[] = {{"X-Test", "agent"}};
        return IHttpAgent::FromS(pSender)->SendGet(dwConnID, "/agent", headers, 1) ? HR_OK : HR_ERROR;
    }
    virtual EnHttpParseResult OnHeadersComplete(IHttpAgent*, CONNID) override { return HPR_OK; }
    virtual EnHttpParseResult OnBody(IHttpAgent*, CONNID, const BYTE* pData, int iLength) override
    {
        body.append((const char*)pData, iLength);
        return HPR_OK;
    }
    virtual EnHttpParseResult OnMessageComplete(IHttpAgent* pSender, CONNID dwConnID) override
    {
        SAY("agent %d %s %s\n", pSender->GetStatusCode(dwConnID), pSender->GetContentType(dwConnID), body.c_str());
        sem_post(&done);
        return HPR_OK;
    }
    virtual EnHttpParseResult OnParseError(IHttpAgent*, CONNID, int iErrorCode, LPCSTR) override
    {
        SAY("agent parse error %d\n", iErrorCode);
        return HPR_ERROR;
    }
    virtual EnHandleResult OnClose(ITcpAgent*, CONNID, EnSocketOperation, int) override { return HR_OK; }
};

class CClientListener : public CHttpClientListener
{
public:
    std::string body;
    int statusLines = 0;
    virtual EnHandleResult OnConnect(ITcpClient* pSender, CONNID) override
    {
        THeader headers[] = {{"X-Test", "client"}};
        return IHttpClient::FromS(pSender)->SendPost("/client", headers, 1, (const BYTE*)"post body", 9) ? HR_OK : HR_ERROR;
    }
    virtual EnHttpParseResult OnStatusLine(IHttpClient*, CONNID, USHORT, LPCSTR) override
    {
        statusLines++;
        return HPR_OK;
    }
    virtual EnHttpParseResult OnHeadersComplete(IHttpClient*, CONNID) override { return HPR_OK; }
    virtual EnHttpParseResult OnBody(IHttpClient*, CONNID, const BYTE* pData, int iLength) override
    {
        body.append((const char*)pData, iLength);
        return HPR_OK;
    }
    virtual EnHttpParseResult OnMessageComplete(IHttpClient* pSender, CONNID) override
    {
        LPCSTR sid = nullptr;
        pSender->GetCookie("sid", &sid);
        SAY("client %d lines=%d sid=%s %s\n", pSender->GetStatusCode(), statusLines, sid ? sid : "-", body.c_str());
        sem_post(&done);
        return HPR_OK;
    }
    virtual EnHttpParseResult OnParseError(IHttpClient*, CONNID, int iErrorCode, LPCSTR) override
    {
        SAY("client parse error %d\n", iErrorCode);
        return HPR_ERROR;
    }
    virtual EnHandleResult OnClose(ITcpClient*, CONNID, EnSocketOperation, int) override { return HR_OK; }
};

/* A sync client's listener sees its messages as an IHttpClient (HP's listener type). */
class CSyncListener : public CHttpSyncClientListener
{
public:
    virtual EnHttpParseResult OnMessageComplete(IHttpClient* pSender, CONNID) override
    {
        SAY("sync listener %d keep-alive=%d\n", pSender->GetStatusCode(), pSender->IsKeepAlive());
        return HPR_OK;
    }
};

int main(int argc, char** argv)
{
    if (argc < 2)
        return 2;
    int port = atoi(argv[1]);
    sem_init(&done, 0, 0);

    CServerListener serverListener;
    CHttpServerPtr server(&serverListener);
    if (!server->Start("127.0.0.1", 0)) {
        SAY("server start failed %d\n", server->GetLastError());
        return 1;
    }

    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/sync?q=1", port);
    CSyncListener syncListener;
    CHttpSyncClientPtr sync(&syncListener);
    THeader headers[] = {{"X-Test", "sync"}};
    if (sync->OpenUrl("GET", url, headers, 1)) {
        LPCBYTE b = nullptr;
        int n = 0;
        sync->GetResponseBody(&b, &n);
        SAY("sync %d %.*s\n", sync->GetStatusCode(), n, (const char*)b);
    } else {
        SAY("sync failed %d\n", sync->GetLastError());
    }
    CHttpSyncClientPtr bare((IHttpClientListener*)nullptr);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/bare", port);
    SAY("bare %d %d\n", bare.IsValid(), bare->OpenUrl("GET", url) ? bare->GetStatusCode() : 0);

    CAgentListener agentListener;
    CHttpAgentPtr agent(&agentListener);
    CONNID id = 0;
    if (agent->Start() && agent->Connect("127.0.0.1", (USHORT)port, &id))
        wait_done("agent");
    else
        SAY("agent failed %d\n", agent->GetLastError());

    CClientListener clientListener;
    CHttpClientPtr client(&clientListener);
    if (client->Start("127.0.0.1", (USHORT)port))
        wait_done("client");
    else
        SAY("client failed %d\n", client->GetLastError());

    TCHAR addr[64];
    int len = sizeof(addr) / sizeof(TCHAR);
    USHORT listen = 0;
    server->GetListenAddress(addr, len, listen);
    SAY("port %d\n", listen);
    while (getchar() != EOF) {
    }
    SAY("stop %d\n", server->Stop());
    return 0;
}
