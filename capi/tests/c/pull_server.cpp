// HP-Socket's C++ usage, unchanged: a listener deriving from CTcpPullServerListener, a
// CTcpPullServerPtr built on it, Start, and inside OnReceive the cast HP users write:
// ITcpPullServer::FromS(pSender)->Fetch(...). Echoes what it fetches; runs until stdin closes.
#include <hpsocket/HPSocket.h>
#include <cstdio>
#include <cstdlib>

class CListenerImpl : public CTcpPullServerListener
{
public:
    virtual EnHandleResult OnPrepareListen(ITcpServer* pSender, SOCKET soListen) override
    {
        (void)pSender;
        printf("prepare-listen %d\n", soListen >= 0 ? 1 : 0);
        return HR_OK;
    }
    virtual EnHandleResult OnAccept(ITcpServer* pSender, CONNID dwConnID, UINT_PTR soClient) override
    {
        (void)soClient;
        TCHAR addr[64];
        int len = sizeof(addr) / sizeof(TCHAR);
        USHORT port = 0;
        pSender->GetRemoteAddress(dwConnID, addr, len, port);
        printf("accept %s\n", addr);
        return HR_OK;
    }
    virtual EnHandleResult OnHandShake(ITcpServer* pSender, CONNID dwConnID) override
    {
        (void)pSender;
        (void)dwConnID;
        printf("handshake\n");
        return HR_OK;
    }
    virtual EnHandleResult OnReceive(ITcpServer* pSender, CONNID dwConnID, int iLength) override
    {
        ITcpPullServer* pServer = ITcpPullServer::FromS(pSender);
        BYTE buf[4096];
        if (iLength > (int)sizeof(buf))
            iLength = sizeof(buf);
        if (pServer->Fetch(dwConnID, buf, iLength) != FR_OK)
            return HR_ERROR;
        printf("receive %d\n", iLength);
        return pSender->Send(dwConnID, buf, iLength) ? HR_OK : HR_ERROR;
    }
    virtual EnHandleResult OnSend(ITcpServer* pSender, CONNID dwConnID, const BYTE* pData, int iLength) override
    {
        (void)pSender;
        (void)dwConnID;
        (void)pData;
        printf("send %d\n", iLength);
        return HR_OK;
    }
    virtual EnHandleResult OnClose(ITcpServer* pSender, CONNID dwConnID, EnSocketOperation enOperation, int iErrorCode) override
    {
        (void)pSender;
        (void)dwConnID;
        printf("close %d %d\n", (int)enOperation, iErrorCode);
        return HR_OK;
    }
    virtual EnHandleResult OnShutdown(ITcpServer* pSender) override
    {
        (void)pSender;
        printf("shutdown\n");
        return HR_OK;
    }
};

int main()
{
    setvbuf(stdout, nullptr, _IOLBF, 0);
    CListenerImpl s_listener;
    CTcpPullServerPtr s_server(&s_listener);
    if (!s_server->Start("127.0.0.1", 0)) {
        printf("start failed %d\n", (int)s_server->GetLastError());
        exit(1);
    }
    TCHAR addr[64];
    int len = sizeof(addr) / sizeof(TCHAR);
    USHORT port = 0;
    s_server->GetListenAddress(addr, len, port);
    printf("port %u\n", port);
    while (getchar() != EOF) {
    }
    s_server->Stop();
    printf("stopped %d\n", (int)s_server->GetState());
    return 0;
}
