// HP-Socket's C++ SSL classes, as HP's SSL examples use them: a CSSLServerPtr echo server and a
// CHttpsServerPtr set up with SetupSSLContext(SSL_VM_NONE, cert, key) (python's ssl module and
// curl are their clients; the test drives them while this program waits on stdin), and a
// CHttpsSyncClientPtr against python's HTTPS server on 127.0.0.1:argv[3]. A plain CTcpServerPtr
// refuses SetupSSLContext (HP's). argv[1], argv[2]: the PEM certificate and key.
#include <hpsocket/HPSocket-SSL.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>

class CEchoListener : public CTcpServerListener
{
public:
    virtual EnHandleResult OnHandShake(ITcpServer* pSender, CONNID) override
    {
        printf("echo handshake secure=%d\n", pSender->IsSecure());
        fflush(stdout);
        return HR_OK;
    }
    virtual EnHandleResult OnReceive(ITcpServer* pSender, CONNID dwConnID, const BYTE* pData, int iLength) override
    {
        return pSender->Send(dwConnID, pData, iLength) ? HR_OK : HR_ERROR;
    }
    virtual EnHandleResult OnClose(ITcpServer*, CONNID, EnSocketOperation, int) override { return HR_OK; }
};

class CHttpsListener : public CHttpServerListener
{
public:
    virtual EnHttpParseResult OnHeadersComplete(IHttpServer*, CONNID) override { return HPR_OK; }
    virtual EnHttpParseResult OnBody(IHttpServer*, CONNID, const BYTE*, int) override { return HPR_OK; }
    virtual EnHttpParseResult OnMessageComplete(IHttpServer* pSender, CONNID dwConnID) override
    {
        char text[256];
        int n = snprintf(text, sizeof(text), "secure %d %s %s", pSender->IsSecure(), pSender->GetMethod(dwConnID),
                         pSender->GetUrlField(dwConnID, HUF_PATH));
        return pSender->SendResponse(dwConnID, HSC_OK, "OK", nullptr, 0, (const BYTE*)text, n) ? HPR_OK : HPR_ERROR;
    }
    virtual EnHttpParseResult OnParseError(IHttpServer*, CONNID, int, LPCSTR) override { return HPR_ERROR; }
    virtual EnHandleResult OnClose(ITcpServer*, CONNID, EnSocketOperation, int) override { return HR_OK; }
};

static USHORT listening(ITcpServer* s)
{
    TCHAR addr[64];
    int len = sizeof(addr) / sizeof(TCHAR);
    USHORT port = 0;
    s->GetListenAddress(addr, len, port);
    return port;
}

int main(int argc, char** argv)
{
    if (argc < 4)
        return 2;
    const char* cert = argv[1];
    const char* key = argv[2];

    CEchoListener plainListener;
    CTcpServerPtr plain(&plainListener);
    printf("plain setup %d secure=%d\n", plain->SetupSSLContext(SSL_VM_NONE, cert, key), plain->IsSecure());

    CEchoListener echoListener;
    CSSLServerPtr echo(&echoListener);
    BOOL ok = echo->SetupSSLContext(SSL_VM_NONE, cert, key);
    printf("echo setup %d auto=%d\n", ok, echo->IsSSLAutoHandShake());
    if (!echo->Start("127.0.0.1", 0))
        printf("echo start failed %d\n", echo->GetLastError());

    CHttpsListener httpsListener;
    CHttpsServerPtr https(&httpsListener);
    ok = https->SetupSSLContext(SSL_VM_NONE, cert, key);
    printf("tls http setup %d\n", ok);
    if (!https->Start("127.0.0.1", 0))
        printf("https start failed %d\n", https->GetLastError());

    CHttpsSyncClientPtr sync((IHttpClientListener*)nullptr);
    sync->SetupSSLContext(SSL_VM_NONE);
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%s/tls", argv[3]);
    if (sync->OpenUrl("GET", url)) {
        LPCBYTE b = nullptr;
        int n = 0;
        sync->GetResponseBody(&b, &n);
        printf("sync secure=%d %d %.*s\n", sync->IsSecure(), sync->GetStatusCode(), n, (const char*)b);
    } else {
        printf("sync failed %d\n", SYS_GetLastError());
    }

    printf("https %d\n", listening(https));
    printf("port %d\n", listening(echo));
    fflush(stdout);
    while (getchar() != EOF) {
    }
    printf("stop %d %d\n", echo->Stop(), https->Stop());
    return 0;
}
