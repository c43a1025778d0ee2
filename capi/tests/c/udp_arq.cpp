// HP-Socket's C++ UDP usage: "server" runs a CUdpArqServerPtr echo (a CUdpServerListener
// subclass; inside OnReceive the cast IUdpArqServer::FromS(pSender) reads the waiting count)
// and prints "port N"; "client PORT" runs a CUdpClientPtr that sends ten datagrams to a UDP
// echo server and checks each echo. Both stop when done (server: when stdin closes).
#include <hpsocket/HPSocket.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

class CServerListener : public CUdpServerListener
{
public:
    virtual EnHandleResult OnAccept(IUdpServer* pSender, CONNID dwConnID, UINT_PTR pSockAddr) override
    {
        (void)pSockAddr;
        TCHAR addr[64];
        int len = sizeof(addr) / sizeof(TCHAR);
        USHORT port = 0;
        pSender->GetRemoteAddress(dwConnID, addr, len, port);
        printf("accept %s\n", addr);
        return HR_OK;
    }
    virtual EnHandleResult OnHandShake(IUdpServer*, CONNID) override
    {
        printf("handshake\n");
        return HR_OK;
    }
    virtual EnHandleResult OnReceive(IUdpServer* pSender, CONNID dwConnID, const BYTE* pData, int iLength) override
    {
        if (!pSender->Send(dwConnID, pData, iLength))
            return HR_ERROR;
        int waiting = -1;
        if (!IUdpArqServer::FromS(pSender)->GetWaitingSendMessageCount(dwConnID, waiting) || waiting < 1)
            printf("waiting %d\n", waiting);
        return HR_OK;
    }
    virtual EnHandleResult OnClose(IUdpServer*, CONNID, EnSocketOperation enOperation, int iErrorCode) override
    {
        printf("close %d %d\n", (int)enOperation, iErrorCode);
        return HR_OK;
    }
};

class CClientListener : public CUdpClientListener
{
public:
    int echoed = 0;
    bool bad = false;
    virtual EnHandleResult OnReceive(IUdpClient*, CONNID, const BYTE* pData, int iLength) override
    {
        char want[32];
        int n = snprintf(want, sizeof(want), "datagram %d", echoed);
        if (iLength != n || memcmp(pData, want, n) != 0)
            bad = true;
        echoed++;
        return HR_OK;
    }
    virtual EnHandleResult OnClose(IUdpClient*, CONNID, EnSocketOperation enOperation, int iErrorCode) override
    {
        printf("client close %d %d\n", (int)enOperation, iErrorCode);
        return HR_OK;
    }
};

static int server()
{
    CServerListener listener;
    CUdpArqServerPtr s(&listener);
    s->SetNoDelay(TRUE);
    s->SetFlushInterval(20);
    s->SetMaxDatagramSize(1200);
    if (!s->IsNoDelay() || s->GetFlushInterval() != 20 || s->GetMaxTransUnit() != 1200 || s->GetMaxDatagramSize() != 1200)
        return printf("settings\n"), 1;
    if (!s->Start("127.0.0.1", 0))
        return printf("start %d %s\n", s->GetLastError(), s->GetLastErrorDesc()), 1;
    TCHAR addr[64];
    int len = sizeof(addr) / sizeof(TCHAR);
    USHORT port = 0;
    s->GetListenAddress(addr, len, port);
    printf("port %u\n", port);
    char line[16];
    while (fgets(line, sizeof(line), stdin)) {
    }
    s->Stop();
    printf("stopped %d\n", (int)s->GetState());
    return 0;
}

static int client(USHORT port)
{
    CClientListener listener;
    CUdpClientPtr c(&listener);
    c->SetDetectInterval(10000);
    if (c->GetDetectInterval() != 10000 || c->GetMaxDatagramSize() != 1432)
        return printf("client settings\n"), 1;
    if (!c->Start("127.0.0.1", port, FALSE))
        return printf("client start %d\n", c->GetLastError()), 1;
    for (int i = 0; i < 10; i++) {
        char m[32];
        int n = snprintf(m, sizeof(m), "datagram %d", i);
        int before = listener.echoed;
        c->Send((const BYTE*)m, n);
        for (int t = 0; t < 500 && listener.echoed == before; t++)
            usleep(2000);
    }
    if (listener.bad || listener.echoed != 10)
        return printf("client echoed %d bad %d\n", listener.echoed, (int)listener.bad), 1;
    printf("client done %d\n", listener.echoed);
    c->Stop();
    return 0;
}

int main(int argc, char** argv)
{
    setvbuf(stdout, nullptr, _IOLBF, 0);
    if (argc > 2 && strcmp(argv[1], "client") == 0)
        return client((USHORT)atoi(argv[2]));
    return server();
}
